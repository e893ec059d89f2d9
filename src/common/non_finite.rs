// SPDX-License-Identifier: MIT OR Apache-2.0
//! Tells the application, once per run, that the model produces NaN or infinite values. The
//! frames stay valid (each task clamps: NaN as 0, infinities to the ends of the range), but a
//! picture drawn from such values is not what the model was meant to give.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::inference::{Runner, Task};

/// The once-per-run NaN/Inf warning: posted at most once between two resets.
#[derive(Debug, Default)]
pub struct NonFiniteWarning {
    posted: AtomicBool,
}

impl NonFiniteWarning {
    /// Arms the warning again (at start).
    pub fn reset(&self) {
        self.posted.store(false, Ordering::Relaxed);
    }

    /// Posts a GStreamer warning the first time `runner` has seen NaN or infinite outputs.
    pub fn check<T: Task>(&self, element: &gst::Element, runner: &Runner<T>) {
        let seen = runner.non_finite();
        if seen.inferences == 0 || self.posted.swap(true, Ordering::Relaxed) {
            return;
        }
        gst::element_warning!(
            element,
            gst::StreamError::Decode,
            ("The model produced NaN or infinite values"),
            [
                "{} of the output values of one inference were NaN or infinite; they are \
                 clamped (NaN as 0, infinities to the ends of the range). Posted once; the \
                 model or its input range is likely wrong",
                seen.last_count
            ]
        );
    }
}
