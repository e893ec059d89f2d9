// SPDX-License-Identifier: MIT OR Apache-2.0
//! Frames whose inference failed, when `on-inference-error=pass` lets the stream go on: each
//! failed frame goes on without the model's result (never with an older frame's), is counted
//! (property `failed-frames`), and the bus hears of it: a warning and an
//! `autoencoder-inference-failed` message when failures start, the same message with
//! `recovered=true` when a result comes again, and one at EOS while failures go on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gst::prelude::*;

use crate::inference::Error;

/// The name of the element message about failed frames.
pub const MESSAGE_NAME: &str = "autoencoder-inference-failed";

/// The failed frames of a started element.
#[derive(Debug, Default)]
pub struct FrameFailures {
    /// Since the start; shared with the `failed-frames` property.
    total: Arc<AtomicU64>,
    /// Failed frames since the last result (0: inference works).
    run: u64,
    /// The first error of the current run of failures.
    first_error: Option<String>,
}

impl FrameFailures {
    /// Counts into `total` (the property's counter), from 0.
    pub fn new(total: Arc<AtomicU64>) -> Self {
        total.store(0, Ordering::Relaxed);
        Self {
            total,
            run: 0,
            first_error: None,
        }
    }

    /// Counts a frame whose inference failed (an element error reports it).
    pub fn count(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a frame whose inference failed with `error` and that goes on without a result;
    /// the first of a run of failures is posted (a warning and an element message).
    pub fn record(&mut self, element: &gst::Element, error: &Error) {
        let total = self.total.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        self.run = self.run.saturating_add(1);
        if self.run > 1 {
            return;
        }
        self.first_error = Some(error.to_string());
        post_warning(
            element,
            error,
            "frames go on without the model's result until inference works again \
             (on-inference-error=pass); failed-frames counts them",
        );
        self.post(element, false, total);
    }

    /// After a frame whose inference did not fail: when failures were going on and
    /// `has_result` says a result came since the last one (asked only then: it takes the
    /// inference thread's lock), the run of failures is over and posted as recovered.
    pub fn note_success(&mut self, element: &gst::Element, has_result: impl FnOnce() -> bool) {
        if self.run == 0 || !has_result() {
            return;
        }
        self.post(element, true, self.total.load(Ordering::Relaxed));
        self.run = 0;
        self.first_error = None;
    }

    /// At EOS: a run of failures still going on is posted with its count.
    pub fn at_eos(&self, element: &gst::Element) {
        if self.run > 0 {
            self.post(element, false, self.total.load(Ordering::Relaxed));
        }
    }

    /// Posts the message: `failed` (frames of this run), `total`, `recovered`, `error` (the
    /// run's first error).
    fn post(&self, element: &gst::Element, recovered: bool, total: u64) {
        let structure = gst::Structure::builder(MESSAGE_NAME)
            .field("failed", self.run)
            .field("total", total)
            .field("recovered", recovered)
            .field("error", self.first_error.as_deref().unwrap_or_default())
            .build();
        let _ = element.post_message(
            gst::message::Element::builder(structure)
                .src(element)
                .build(),
        );
    }
}

/// Posts `e` as a warning in its kind's domain, `debug` saying what happens next.
fn post_warning(element: &gst::Element, e: &Error, debug: &str) {
    let message = super::in_domain_of!(e.kind(), |code| {
        gst::message::Warning::builder(code, e.message())
            .debug(debug)
            .src(element)
            .build()
    });
    let _ = element.post_message(message);
}
