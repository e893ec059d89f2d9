// SPDX-License-Identifier: MIT OR Apache-2.0
//! ONNX Runtime's own log goes to the `onnxruntime` GStreamer debug category, not to stderr.
//! Its own test binary: the ONNX Runtime environment (and its logger) is made once per process.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use gst::prelude::*;

#[test]
fn onnx_runtime_logs_into_a_gstreamer_debug_category() {
    init();
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let lines = Arc::clone(&lines);
        gst::log::add_log_function(
            move |category, _level, _file, _function, _line, _obj, msg| {
                if category.name() == "onnxruntime"
                    && let Some(text) = msg.get()
                {
                    lines.lock().unwrap().push(text.to_string());
                }
            },
        );
    }
    gst::log::set_active(true);
    gst::log::set_threshold_for_name("onnxruntime", gst::DebugLevel::Info);
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGBx,width=32,height=24 ! \
         onnxstyletransfer model-file={} ! fakesink",
        fixture_str("channel_swap.onnx")
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(msg.type_(), gst::MessageType::Eos);
    let lines = lines.lock().unwrap();
    // ONNX Runtime says at INFO level which session options it uses.
    assert!(
        lines.iter().any(|l| l.contains("Session Options")),
        "{} lines in the category: {:?}",
        lines.len(),
        lines.iter().take(3).collect::<Vec<_>>()
    );
}
