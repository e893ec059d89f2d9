// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `onnxsegmentation` element: a segmentation model's classes as a coloured overlay, a
//! mask or GRAY8 class ids, with the class fractions per buffer ([`META_NAME`]) and, when
//! asked, on the bus ([`MESSAGE_NAME`]).

use gst::glib;
use gst::prelude::*;

mod imp;

pub use imp::{MESSAGE_NAME, META_NAME, Output, Upsampling};

glib::wrapper! {
    /// The `onnxsegmentation` element (a `GstBaseTransform`).
    pub struct Segmentation(ObjectSubclass<imp::Segmentation>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers `onnxsegmentation` (and its meta and enum types) with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    imp::register_meta();
    Output::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Upsampling::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "onnxsegmentation",
        gst::Rank::NONE,
        Segmentation::static_type(),
    )
}
