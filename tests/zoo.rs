// SPDX-License-Identifier: MIT OR Apache-2.0
//! The model zoo's pretrained models (`scripts/models.sh`, which `scripts/test.sh` runs first)
//! run through the elements with no property set, and give what ONNX Runtime's Python API
//! gives on the same photo (`models/zoo/samples/`, written by the zoo command).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gst_video::VideoFormat;
use gst_video::prelude::*;

fn zoo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/zoo")
}

/// The zoo's manifest: one entry per model.
fn models() -> Vec<serde_json::Value> {
    let manifest = zoo().join("zoo.json");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run scripts/models.sh (scripts/test.sh does) to fetch the zoo",
            manifest.display()
        )
    });
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    manifest["models"].as_array().unwrap().clone()
}

#[test]
fn zoo_models_run_by_their_metadata_alone_and_match_python() {
    init();
    let models = models();
    assert!(models.len() >= 6, "{} models in the zoo", models.len());
    for model in models {
        let (name, element) = (
            model["name"].as_str().unwrap(),
            model["element"].as_str().unwrap(),
        );
        let sample = &model["sample"];
        let (w, h) = (
            sample["width"].as_u64().unwrap() as usize,
            sample["height"].as_u64().unwrap() as usize,
        );
        let input = std::fs::read(zoo().join(sample["input"].as_str().unwrap())).unwrap();
        let expected = std::fs::read(zoo().join(sample["output"].as_str().unwrap())).unwrap();
        let file = zoo().join(model["file"].as_str().unwrap());
        let classes = element == "onnxsegmentation";
        let map = element == "onnxmap";
        // Class ids, and the map's values over its metadata range (map_range), as numbers.
        let launch = format!(
            "{element} model-file={}{}",
            file.display(),
            match element {
                "onnxsegmentation" => " output=classes",
                "onnxmap" => " output=gray16 normalization=fixed",
                _ => "",
            }
        );
        let out = run_one(
            &launch,
            VideoFormat::Rgb,
            w,
            h,
            pack(&input, w, h, VideoFormat::Rgb, w * 3),
        );
        if map {
            check_map(name, &out, &expected, w, h);
        } else if classes {
            let got = gray8(&out, w, h);
            let differing = got.iter().zip(&expected).filter(|(a, b)| a != b).count();
            let person = expected.iter().filter(|c| **c == 1).count();
            // A probability within float rounding of 0.5 may fall either way.
            assert!(
                differing * 1000 <= w * h,
                "{name}: {differing} of {} pixels differ",
                w * h
            );
            assert!(
                person * 10 > w * h,
                "{name}: the astronaut is found ({person} pixels)"
            );
        } else {
            let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgb, w, h)).unwrap();
            let (rgb, _) = unpack(&out, &info);
            assert!(
                max_diff(&rgb, &expected) <= 1,
                "{name}: max diff {}",
                max_diff(&rgb, &expected)
            );
            assert!(
                max_diff(&rgb, &input) > 64,
                "{name}: the style changed the photo"
            );
        }
    }
}

/// A map model's GRAY16 output (its `map_range` 0..1 over 0..65535) against the float map
/// ONNX Runtime's Python API gave.
fn check_map(name: &str, out: &gst::BufferRef, expected: &[u8], w: usize, h: usize) {
    let expected: Vec<f32> = expected
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(expected.len(), w * h, "{name}: the reference map's size");
    let info = gst_video::VideoInfo::builder(VideoFormat::Gray16Le, w as u32, h as u32)
        .build()
        .unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(out, &info).unwrap();
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap();
    let mut worst = 0f32;
    for (y, row) in expected.chunks_exact(w).enumerate() {
        for (x, want) in row.iter().enumerate() {
            let at = y * stride + 2 * x;
            let got = f32::from(u16::from_le_bytes([data[at], data[at + 1]])) / 65535.0;
            worst = worst.max((got - want.clamp(0.0, 1.0)).abs());
        }
    }
    // Rounding to 1/65535, and float differences between the two runs of ONNX Runtime.
    assert!(worst <= 1e-4, "{name}: map off by {worst}");
    let spread =
        expected.iter().fold(0f32, |m, v| m.max(*v)) - expected.iter().fold(1f32, |m, v| m.min(*v));
    assert!(spread > 0.5, "{name}: the map has content ({spread})");
}
