// SPDX-License-Identifier: MIT OR Apache-2.0
//! The latency an element adds, reported in LATENCY queries so that live pipelines schedule
//! frames late enough: the time one inference takes when frames wait for their result, next
//! to nothing in non-blocking mode. When inference turns out slower than reported, a LATENCY
//! message asks the pipeline to query again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gst::prelude::*;

/// How much slower than reported inference may get before the pipeline is told.
const REPORT_MARGIN: f64 = 1.25;

/// The latency an element last reported (0 until a measurement), shared between the
/// streaming thread and query handling.
#[derive(Debug, Default)]
pub struct ReportedLatency {
    nanos: AtomicU64,
}

impl ReportedLatency {
    /// The latency reported now.
    pub fn get(&self) -> gst::ClockTime {
        gst::ClockTime::from_nseconds(self.nanos.load(Ordering::Relaxed))
    }

    /// Back to 0 (at start, before anything is measured).
    pub fn reset(&self) {
        self.nanos.store(0, Ordering::Relaxed);
    }

    /// Records a measured processing time; posts a LATENCY message when it exceeds what was
    /// reported by more than the margin.
    pub fn update(&self, element: &gst::Element, cat: gst::DebugCategory, measured: Duration) {
        let measured = measured.as_nanos().min(u64::MAX as u128) as u64;
        let reported = self.nanos.load(Ordering::Relaxed);
        if (measured as f64) <= reported as f64 * REPORT_MARGIN {
            return;
        }
        // Report with head room so that normal jitter does not trigger a new query.
        let new = (measured as f64 * REPORT_MARGIN) as u64;
        self.nanos.store(new, Ordering::Relaxed);
        gst::info!(
            cat,
            obj = element,
            "a frame takes {} ms in the element, reported latency now {} ms",
            measured / 1_000_000,
            new / 1_000_000
        );
        // Also the first time: a live pipeline may have asked before the caps (and the
        // warm-up that measures) were known.
        let _ = element.post_message(gst::message::Latency::builder().src(element).build());
    }

    /// Adds the reported latency to an answered LATENCY query.
    pub fn add_to(&self, query: &mut gst::QueryRef) {
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let (live, min, max) = q.result();
            let ours = self.get();
            q.set(live, min + ours, max.map(|m| m + ours));
        }
    }
}
