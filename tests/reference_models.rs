// SPDX-License-Identifier: MIT OR Apache-2.0
//! Third-party models with no metadata of ours, set up by properties alone: the Johnson et al.
//! fast-style-transfer net of ../shared/ref-models (fixed 720x720, RGB 0-255 in and out, like
//! the ONNX model zoo's). Opt-in, since that folder lives outside the repository:
//!
//!     cargo test --test reference_models -- --ignored
//!
//! and then strict: a missing model fails.

mod common;

use std::path::PathBuf;

use common::*;
use gst_video::VideoFormat;

const SIZE: usize = 720;
const CROP: (usize, usize, usize) = (328, 328, 64);

fn reference_model(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/ref-models")
        .join(name);
    assert!(path.exists(), "{} is not present", path.display());
    path
}

/// Same integer formula as make_fixtures.py's gradient_image.
fn gradient_image(n: usize) -> Vec<u8> {
    let m = n - 1;
    let mut rgb = Vec::with_capacity(n * n * 3);
    for y in 0..n {
        for x in 0..n {
            rgb.extend([255 * x / m, 255 * y / m, 255 * (x + y) / (2 * m)].map(|v| v as u8));
        }
    }
    rgb
}

#[test]
#[ignore = "needs ../shared/ref-models: cargo test --test reference_models -- --ignored"]
fn johnson_net_runs_by_properties_alone() {
    let model = reference_model("winml_mosaic.onnx");
    init();
    let input = gradient_image(SIZE);
    let out = run_one(
        &format!(
            "onnxstyletransfer model-file={} input-range=0-255",
            model.display()
        ),
        VideoFormat::Rgb,
        SIZE,
        SIZE,
        pack(&input, SIZE, SIZE, VideoFormat::Rgb, SIZE * 3),
    );
    let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgb, SIZE, SIZE)).unwrap();
    let (rgb, _) = unpack(&out, &info);
    let (x0, y0, n) = CROP;
    let crop: Vec<u8> = (y0..y0 + n)
        .flat_map(|y| rgb[(y * SIZE + x0) * 3..(y * SIZE + x0 + n) * 3].to_vec())
        .collect();
    let reference = read_rgb("winml_mosaic_crop_328_328_64.rgb", n, n);
    let diff = max_diff(&crop, &reference);
    assert!(diff <= 1, "max difference {diff} levels");
}
