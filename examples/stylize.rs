// SPDX-License-Identifier: MIT OR Apache-2.0
//! Embeds onnxstyletransfer in a Rust application: builds the pipeline element by element,
//! runs it to the end of the stream, reports the execution provider, and writes PNG frames.
//!
//!     cargo run --release --example stylize -- [MODEL] [OUTPUT_DIR] [FRAMES]
//!
//! Defaults: models/style_mosaic.onnx, out/, 5 frames of videotestsrc at 640x360.

use anyhow::{Context, Result, bail};
use gst::prelude::*;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .unwrap_or_else(|| "models/style_mosaic.onnx".into());
    let out_dir = args.next().unwrap_or_else(|| "out".into());
    let frames: i32 = args
        .next()
        .map_or(Ok(5), |n| n.parse())
        .context("FRAMES must be a number")?;

    gst::init()?;
    // The plugin is linked into this program; an installed copy would be found by name too.
    gstautoencoder::plugin_register_static()?;
    std::fs::create_dir_all(&out_dir)?;

    let source = gst::ElementFactory::make("videotestsrc")
        .property("num-buffers", frames)
        .property_from_str("pattern", "smpte")
        .build()?;
    let caps = gst_video::VideoCapsBuilder::new()
        .width(640)
        .height(360)
        .build();
    let filter = gst::ElementFactory::make("capsfilter")
        .property("caps", &caps)
        .build()?;
    let to_rgb = gst::ElementFactory::make("videoconvert").build()?;
    let style = gst::ElementFactory::make("onnxstyletransfer")
        .property("model-file", &model)
        .property("strength", 1.0f64)
        .build()?;
    let to_png = gst::ElementFactory::make("videoconvert").build()?;
    let encoder = gst::ElementFactory::make("pngenc").build()?;
    let sink = gst::ElementFactory::make("multifilesink")
        .property("location", format!("{out_dir}/stylize-%03d.png"))
        .build()?;

    let pipeline = gst::Pipeline::new();
    let chain = [&source, &filter, &to_rgb, &style, &to_png, &encoder, &sink];
    pipeline.add_many(chain)?;
    gst::Element::link_many(chain)?;

    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().context("pipeline without bus")?;
    let outcome = (|| {
        for msg in bus.iter_timed(gst::ClockTime::NONE) {
            match msg.view() {
                gst::MessageView::Eos(_) => return Ok(()),
                gst::MessageView::Error(err) => {
                    bail!("{}: {}", err.error(), err.debug().unwrap_or_default())
                }
                gst::MessageView::Element(e) => {
                    if let Some(s) = e.structure().filter(|s| s.name() == "autoencoder-provider") {
                        println!(
                            "running on {} (ONNX Runtime: {})",
                            s.get::<&str>("active")?,
                            s.get::<&str>("runtime-library")?
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    })();
    pipeline.set_state(gst::State::Null)?;
    outcome?;
    println!("wrote {frames} frames to {out_dir}/stylize-*.png");
    Ok(())
}
