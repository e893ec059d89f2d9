// SPDX-License-Identifier: MIT OR Apache-2.0
//! The model zoo's pretrained models (`scripts/models.sh`, which `scripts/test.sh` runs first)
//! run through the elements with no property set, and give what ONNX Runtime's Python API
//! gives on the same photo (`models/zoo/samples/`, written by the zoo command).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gst_video::VideoFormat;

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
        let launch = format!(
            "{element} model-file={}{}",
            file.display(),
            if classes { " output=classes" } else { "" }
        );
        let out = run_one(
            &launch,
            VideoFormat::Rgb,
            w,
            h,
            pack(&input, w, h, VideoFormat::Rgb, w * 3),
        );
        if classes {
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
