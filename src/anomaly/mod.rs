// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `onnxanomaly` element: an autoencoder's reconstruction error as a heatmap overlay, a
//! heatmap or a GRAY8 error map, with a score per buffer ([`META_NAME`]) and a message on each
//! threshold crossing ([`MESSAGE_NAME`]).

use gst::glib;
use gst::prelude::*;

mod imp;

pub use imp::{MESSAGE_NAME, META_NAME, Output};

glib::wrapper! {
    /// The `onnxanomaly` element (a `GstBaseTransform`).
    pub struct Anomaly(ObjectSubclass<imp::Anomaly>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers `onnxanomaly` (and its meta and enum types) with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    imp::register_meta();
    Output::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "onnxanomaly",
        gst::Rank::NONE,
        Anomaly::static_type(),
    )
}
