// SPDX-License-Identifier: MIT OR Apache-2.0

use gst::glib;
use gst::prelude::*;

mod imp;

pub use imp::{MESSAGE_NAME, META_NAME, Output};

glib::wrapper! {
    pub struct Anomaly(ObjectSubclass<imp::Anomaly>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

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
