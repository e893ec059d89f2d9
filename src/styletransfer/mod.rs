// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `onnxstyletransfer` element: an image-to-image model's output written back into the
//! frame, blended with it by `strength`.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// The `onnxstyletransfer` element (a `GstVideoFilter`).
    pub struct StyleTransfer(ObjectSubclass<imp::StyleTransfer>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers `onnxstyletransfer` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "onnxstyletransfer",
        gst::Rank::NONE,
        StyleTransfer::static_type(),
    )
}
