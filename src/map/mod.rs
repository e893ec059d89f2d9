// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `onnxmap` element: a one-channel map model's output (depth, edges, saliency, text
//! probability) through a colour map, over the frame, or as GRAY16, with the map's range and
//! the normalisation used per buffer ([`META_NAME`]).

use gst::glib;
use gst::prelude::*;

mod imp;

pub use imp::{Colormap, META_NAME, Normalization, Output};

glib::wrapper! {
    /// The `onnxmap` element (a `GstBaseTransform`).
    pub struct Map(ObjectSubclass<imp::Map>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers `onnxmap` (and its meta and enum types) with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    imp::register_meta();
    Output::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Colormap::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Normalization::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(Some(plugin), "onnxmap", gst::Rank::NONE, Map::static_type())
}
