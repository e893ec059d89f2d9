// SPDX-License-Identifier: MIT OR Apache-2.0

use gst::glib;
use gst::prelude::*;

mod imp;

pub use imp::{MESSAGE_NAME, META_NAME, Output};

glib::wrapper! {
    pub struct Segmentation(ObjectSubclass<imp::Segmentation>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    imp::register_meta();
    Output::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "onnxsegmentation",
        gst::Rank::NONE,
        Segmentation::static_type(),
    )
}
