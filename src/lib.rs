// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! GStreamer elements that run ONNX convolutional autoencoders through ONNX Runtime on every
//! video frame: `onnxstyletransfer` (image-to-image), `onnxsegmentation` (class overlays, masks
//! and class ids) and `onnxanomaly` (reconstruction-error heatmaps and scores). The inference core they share is
//! [`inference`]; it has no GStreamer element code and can be used on its own.

use gst::glib;

pub mod anomaly;
mod common;
pub mod inference;
pub mod segmentation;
mod styletransfer;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    common::enums::mark_as_plugin_api();
    styletransfer::register(plugin)?;
    segmentation::register(plugin)?;
    anomaly::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    autoencoder,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
