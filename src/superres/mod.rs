// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `onnxsuperresolution` element: a super-resolution model's output as the outgoing
//! frame, larger than the incoming one by the model's whole factor.

use gst::glib;
use gst::prelude::*;

mod caps;
mod imp;

glib::wrapper! {
    /// The `onnxsuperresolution` element (a `GstVideoFilter` that is never in place).
    pub struct SuperResolution(ObjectSubclass<imp::SuperResolution>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers `onnxsuperresolution` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "onnxsuperresolution",
        gst::Rank::NONE,
        SuperResolution::static_type(),
    )
}
