// SPDX-License-Identifier: MIT OR Apache-2.0
//! Soak: many frames through each element; resident memory must stay flat (under 5 MiB of
//! growth after the warm-up) and no file descriptor may be left open. One test in its own
//! process, the elements one after another, so that nothing else moves the figures.
//!
//! CI runs 300 frames per element; the full run is
//!
//!     SOAK_FRAMES=10000 cargo test --release --test soak -- --nocapture

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::*;
use gst::prelude::*;

const MAX_GROWTH_KIB: u64 = 5 * 1024;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// (RSS KiB, open fds) at a point of a run.
type Mark = (u64, usize);

/// Runs `frames` frames through `element`; returns the marks after the warm-up and at the end.
fn soak(element: &str, size: (u32, u32), frames: u64) -> (Mark, Mark) {
    let (w, h) = size;
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc pattern=ball num-buffers={frames} ! \
         video/x-raw,format=RGBx,width={w},height={h} ! {element} ! fakesink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let warm_up = (frames / 10).clamp(100, 200);
    let after_warm_up = Arc::new(Mutex::new(None));
    let seen = std::sync::atomic::AtomicU64::new(0);
    let mark = Arc::clone(&after_warm_up);
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 == warm_up {
                *mark.lock().unwrap() = Some((rss_kib(), open_fds()));
            }
            gst::PadProbeReturn::Ok
        })
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let message = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::NONE,
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap();
    assert!(
        matches!(message.view(), gst::MessageView::Eos(_)),
        "{element}: {message:?}"
    );
    let end = (rss_kib(), open_fds());
    pipeline.set_state(gst::State::Null).unwrap();
    let start = after_warm_up.lock().unwrap().expect("the warm-up mark");
    (start, end)
}

#[test]
fn memory_and_file_descriptors_stay_flat_over_a_long_run() {
    init();
    let frames: u64 = std::env::var("SOAK_FRAMES")
        .ok()
        .map(|v| v.parse().expect("SOAK_FRAMES is a number of frames"))
        .unwrap_or(300);
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let m = |file: &str| models.join(file).display().to_string();
    let runs = [
        (
            format!("onnxstyletransfer model-file={}", m("pencil_sketch.onnx")),
            (320, 180),
        ),
        (
            format!(
                "onnxstyletransfer model-file={} non-blocking=true",
                m("style_mosaic_rt.onnx")
            ),
            (160, 96),
        ),
        (
            format!(
                "onnxsegmentation model-file={}",
                m("segmentation_unet.onnx")
            ),
            (160, 96),
        ),
        (
            format!("onnxanomaly model-file={}", m("anomaly_brick.onnx")),
            (160, 96),
        ),
    ];
    // GStreamer and ONNX Runtime open a few descriptors of their own on first use (the system
    // clock, the runtime library): counted after the first run.
    let mut fds_after_first = None;
    for (element, size) in runs {
        let ((rss_start, fds_start), (rss_end, fds_end)) = soak(&element, size, frames);
        let growth = rss_end.saturating_sub(rss_start);
        println!(
            "{element} {}x{}, {frames} frames: RSS {rss_start} -> {rss_end} KiB (+{growth}), fds {fds_start} -> {fds_end}",
            size.0, size.1
        );
        assert!(
            growth < MAX_GROWTH_KIB,
            "{element}: RSS grew by {growth} KiB"
        );
        assert_eq!(fds_start, fds_end, "{element}: file descriptors leaked");
        let now = open_fds();
        assert_eq!(
            *fds_after_first.get_or_insert(now),
            now,
            "{element}: descriptors left open after the pipeline was stopped"
        );
    }
}
