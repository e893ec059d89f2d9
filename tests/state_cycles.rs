// SPDX-License-Identifier: MIT OR Apache-2.0
//! State cycles: one pipeline per element, `videotestsrc ! ELEMENT ! fakesink`, played to EOS
//! and set to NULL again and again in one process. Every start loads the model and every stop
//! drops it, so resident memory must come back to where it was: from the warm-up to the end it
//! may not rise by 5 MiB or more (each the median of 10 readings). One test in its own process,
//! the elements one after another, so that nothing else moves the figures; a stock element
//! (videoflip) runs first as the reference.
//!
//! CI runs 100 cycles of each element; the full run (about 4 minutes on 2 cores) is
//!
//!     STATE_CYCLES=1000 cargo test --release --test state_cycles -- --nocapture
//!
//! Before the CPU sessions shared one memory arena (`runtime::share_cpu_arena`), 100 cycles
//! grew RSS by 11-51 MiB here for at least one element in each run, and 1,000 by 15-22 MiB
//! (docs/performance.md has the figures).

mod common;

use std::path::PathBuf;

use common::*;
use gst::prelude::*;

/// The bound for 1,000 cycles, kept for the 100 of CI: the growth came in steps of several
/// MiB that then levelled off, not by a steady amount a cycle, so a bound scaled down by the
/// number of cycles would test the noise.
const MAX_GROWTH_KIB: i64 = 5 * 1024;
/// Cycles before the first reading that counts.
const WARM_UP_CYCLES: usize = 10;
/// Readings whose median is taken, after the warm-up and at the end.
const WINDOW: usize = 10;
/// Cycles at which RSS is printed.
const MARKS: [usize; 6] = [10, 100, 200, 500, 1000, 2000];

/// Plays `element` to EOS (one frame) and sets it to NULL, `cycles` times; returns RSS after
/// each cycle.
fn cycle(element: &str, cycles: usize) -> Vec<u64> {
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc pattern=ball num-buffers=1 ! \
         video/x-raw,format=RGBx,width=320,height=180 ! {element} ! fakesink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let bus = pipeline.bus().unwrap();
    (1..=cycles)
        .map(|n| {
            pipeline.set_state(gst::State::Playing).unwrap();
            let message = bus
                .timed_pop_filtered(
                    gst::ClockTime::from_seconds(60),
                    &[gst::MessageType::Eos, gst::MessageType::Error],
                )
                .unwrap_or_else(|| panic!("{element}: no EOS in cycle {n}"));
            assert!(
                matches!(message.view(), gst::MessageView::Eos(_)),
                "{element}, cycle {n}: {message:?}"
            );
            pipeline.set_state(gst::State::Null).unwrap();
            // This cycle's messages (state changes, the provider report) are not kept.
            while bus.pop().is_some() {}
            rss_kib()
        })
        .collect()
}

/// The median of `readings` (a single reading can catch a passing thread's stack or arena).
fn median(readings: &[u64]) -> u64 {
    let mut sorted = readings.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

#[test]
fn memory_comes_back_after_each_state_cycle() {
    init();
    let cycles: usize = std::env::var("STATE_CYCLES")
        .ok()
        .map(|v| v.parse().expect("STATE_CYCLES is a number of cycles"))
        .unwrap_or(100);
    assert!(
        cycles >= WARM_UP_CYCLES + 2 * WINDOW,
        "STATE_CYCLES must be at least {}",
        WARM_UP_CYCLES + 2 * WINDOW
    );
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let m = |file: &str| models.join(file).display().to_string();
    let elements = [
        "videoflip method=horizontal-flip".to_owned(),
        format!("onnxstyletransfer model-file={}", m("style_mosaic.onnx")),
        format!(
            "onnxsegmentation model-file={}",
            m("segmentation_unet.onnx")
        ),
        format!("onnxanomaly model-file={}", m("anomaly_brick.onnx")),
    ];
    println!(
        "320x180, {cycles} cycles; RSS in KiB after cycle N; growth: the median of the last \
         {WINDOW} cycles minus that of cycles {}-{}",
        WARM_UP_CYCLES + 1,
        WARM_UP_CYCLES + WINDOW
    );
    let mut failures = Vec::new();
    for element in &elements {
        let rss = cycle(element, cycles);
        let warm = median(&rss[WARM_UP_CYCLES..WARM_UP_CYCLES + WINDOW]);
        let end = median(&rss[rss.len() - WINDOW..]);
        let growth = end as i64 - warm as i64;
        let marks: String = MARKS
            .iter()
            .filter(|&&n| n <= rss.len())
            .map(|&n| format!(" @{n} {}", rss[n - 1]))
            .collect();
        let name = element.split(' ').next().unwrap();
        println!(
            "{name:<18}{marks} | warm {warm} end {end} growth {growth:+} highest {}",
            rss[WARM_UP_CYCLES..].iter().max().unwrap()
        );
        if growth >= MAX_GROWTH_KIB {
            failures.push(format!(
                "{name}: RSS grew by {growth} KiB over {cycles} cycles"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("; "));
}
