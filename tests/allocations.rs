// SPDX-License-Identifier: MIT OR Apache-2.0
//! The steady state allocates nothing per frame: a counting global allocator sees every Rust
//! heap allocation of this process (the elements, the inference core, the ort and gstreamer
//! bindings); frames pushed through each element after a warm-up must not add one. ONNX
//! Runtime's own C++ memory (its arena) and GStreamer's buffer pools are outside Rust's
//! allocator; benches/soak.sh checks the whole process's RSS over 10,000 frames instead.
//!
//! Not covered: resizing (fixed-size models, `inference-scale` below 1, and
//! onnxsuperresolution's bicubic base of every output frame) goes through fast_image_resize,
//! which computes its filter coefficients on the heap at every call (about 90 small
//! allocations per resize); freed at once, they do not grow memory.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use gst_video::VideoFormat;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const W: usize = 64;
const H: usize = 48;
const WARM_UP: usize = 5;
const MEASURED: usize = 20;

/// Rust allocations while `MEASURED` frames go through `launch` after a warm-up.
fn allocations_per_run(launch: &str) -> u64 {
    init();
    let format = VideoFormat::Rgbx;
    let mut h = gst_check::Harness::new_parse(launch);
    h.set_src_caps(caps(format, W, H));
    let rgb: Vec<u8> = (0..W * H * 3).map(|i| (i * 7 % 251) as u8).collect();
    let frames: Vec<gst::Buffer> = (0..WARM_UP + MEASURED)
        .map(|_| pack(&rgb, W, H, format, W * 4 + 8))
        .collect();
    let mut frames = frames.into_iter();
    for frame in frames.by_ref().take(WARM_UP) {
        h.push(frame).expect("push");
        h.pull().expect("pull");
        // Lets a non-blocking element's thread finish, so that both of its result buffers
        // have been sized before the measurement.
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for frame in frames {
        h.push(frame).expect("push");
    }
    let count = ALLOCATIONS.load(Ordering::Relaxed) - before;
    for _ in 0..MEASURED {
        h.pull().expect("pull");
    }
    count
}

fn check(launch: &str) {
    let count = allocations_per_run(launch);
    assert_eq!(
        count, 0,
        "{count} Rust allocations in {MEASURED} steady-state frames of `{launch}`"
    );
}

/// One test for all elements: with a single test in this binary, nothing else (not even
/// libtest reporting another test's result) allocates while a measurement runs.
#[test]
fn steady_state_allocates_nothing_per_frame() {
    let style = fixture_str("dynamic_conv.onnx");
    let classes = fixture_str("five_classes.onnx");
    // Scores at a quarter of the frame's size: upsampled, and a foreground blended.
    let coarse = fixture_str("coarse_foreground.onnx");
    let anomaly = fixture_str("clipped_reconstruction.onnx");
    // A one-channel map at the frame's size, and one at half of it (upsampled).
    let map = fixture_str("map_gradient.onnx");
    let half_map = fixture_str("map_half.onnx");
    for launch in [
        format!("onnxstyletransfer model-file={style}"),
        format!("onnxstyletransfer model-file={style} strength=0.5"),
        format!("onnxstyletransfer model-file={style} non-blocking=true"),
        format!("onnxsegmentation model-file={classes}"),
        format!("onnxsegmentation model-file={classes} output=classes interval=3"),
        format!("onnxsegmentation model-file={classes} non-blocking=true"),
        format!("onnxsegmentation model-file={coarse}"),
        format!("onnxsegmentation model-file={coarse} output=blur feather=4"),
        format!("onnxsegmentation model-file={coarse} output=replace"),
        format!("onnxanomaly model-file={anomaly}"),
        format!("onnxanomaly model-file={anomaly} output=error interval=2"),
        format!("onnxmap model-file={map}"),
        format!("onnxmap model-file={map} normalization=percentile output=overlay"),
        format!("onnxmap model-file={half_map} output=gray16"),
        format!("onnxmap model-file={half_map} non-blocking=true colormap=gray"),
    ] {
        check(&launch);
    }
}
