// SPDX-License-Identifier: MIT OR Apache-2.0
//! Load: four elements in one pipeline, and three such pipelines in one process at once, all
//! sharing the one ONNX Runtime environment. Every output is compared with what ONNX Runtime's
//! Python API stored for the shipped models (models/reference/).

mod common;

use std::path::PathBuf;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;

const W: usize = 64;
const H: usize = 48;
const FRAMES: usize = 4;
const MAX_ERROR: f32 = 40.0;

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

fn stored_f32(name: &str) -> Vec<f32> {
    std::fs::read(models_dir().join("reference").join(name))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// What each branch must output for the reference input.
enum Expected {
    /// RGB pixels, within one level.
    Image(Vec<u8>),
    /// Class ids; pixels whose two best scores tie within float rounding may flip.
    Classes(Vec<u8>),
    /// GRAY8 error levels, within one level.
    Errors(Vec<u8>),
}

fn expected_style(model: &str) -> Expected {
    let out = stored_f32(&format!("{model}.output.f32"));
    let plane = W * H;
    Expected::Image(
        (0..plane * 3)
            .map(|i| {
                let (p, c) = (i / 3, i % 3);
                (out[c * plane + p] * 255.0).clamp(0.0, 255.0).round() as u8
            })
            .collect(),
    )
}

fn expected_classes() -> Expected {
    let scores = stored_f32("segmentation_unet.output.f32");
    let plane = W * H;
    let k = scores.len() / plane;
    Expected::Classes(
        (0..plane)
            .map(|i| {
                (0..k).fold(0, |best, c| {
                    if scores[c * plane + i] > scores[best * plane + i] {
                        c
                    } else {
                        best
                    }
                }) as u8
            })
            .collect(),
    )
}

fn expected_errors() -> Expected {
    Expected::Errors(
        stored_f32("anomaly_brick.error.f32")
            .iter()
            .map(|e| ((e / MAX_ERROR).clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect(),
    )
}

fn check(branch: &str, expected: &Expected, buffer: &gst::BufferRef) {
    match expected {
        Expected::Image(want) => {
            let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgb, W, H)).unwrap();
            let got = unpack(buffer, &info).0;
            assert!(max_diff(&got, want) <= 1, "{branch}");
        }
        Expected::Classes(want) => {
            let got = gray8(buffer, W, H);
            let same = got.iter().zip(want).filter(|(a, b)| a == b).count();
            assert!(same * 1000 >= want.len() * 998, "{branch}: {same} agree");
        }
        Expected::Errors(want) => {
            let got = gray8(buffer, W, H);
            assert!(max_diff(&got, want) <= 1, "{branch}");
        }
    }
}

/// One pipeline: the reference input through four elements side by side, FRAMES times.
fn run_four_elements(pipeline_index: usize) {
    let dir = models_dir();
    let branches = [
        (
            format!(
                "onnxstyletransfer model-file={}/style_mosaic.onnx",
                dir.display()
            ),
            expected_style("style_mosaic"),
        ),
        (
            format!(
                "onnxstyletransfer model-file={}/style_swirl.onnx",
                dir.display()
            ),
            expected_style("style_swirl"),
        ),
        (
            format!(
                "onnxsegmentation model-file={}/segmentation_unet.onnx output=classes",
                dir.display()
            ),
            expected_classes(),
        ),
        (
            format!(
                "onnxanomaly model-file={}/anomaly_brick.onnx output=error max-error={MAX_ERROR}",
                dir.display()
            ),
            expected_errors(),
        ),
    ];
    let mut launch = String::from("appsrc name=src format=time ! tee name=t ");
    for (i, (element, _)) in branches.iter().enumerate() {
        launch += &format!("t. ! queue ! {element} ! appsink name=sink{i} sync=false ");
    }
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(&caps(VideoFormat::Rgb, W, H)));
    let sinks: Vec<gst_app::AppSink> = (0..branches.len())
        .map(|i| {
            pipeline
                .by_name(&format!("sink{i}"))
                .unwrap()
                .downcast()
                .unwrap()
        })
        .collect();
    pipeline.set_state(gst::State::Playing).unwrap();
    let rgb = std::fs::read(models_dir().join("reference/input_64x48.rgb")).unwrap();
    for frame in 0..FRAMES {
        let mut buffer = pack(&rgb, W, H, VideoFormat::Rgb, W * 3);
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(33 * frame as u64));
        src.push_buffer(buffer).unwrap();
    }
    src.end_of_stream().unwrap();
    for (i, ((element, expected), sink)) in branches.iter().zip(&sinks).enumerate() {
        for frame in 0..FRAMES {
            let sample = sink
                .try_pull_sample(gst::ClockTime::from_seconds(60))
                .unwrap_or_else(|| {
                    panic!("pipeline {pipeline_index}, branch {i}: no frame {frame}")
                });
            let what = format!("pipeline {pipeline_index}, frame {frame}, {element}");
            check(&what, expected, sample.buffer().unwrap());
        }
    }
    let bus = pipeline.bus().unwrap();
    let errors: Vec<_> =
        std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Error])).collect();
    assert!(errors.is_empty(), "{errors:?}");
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn three_pipelines_of_four_elements_at_once_all_match_the_references() {
    init();
    let pipelines: Vec<_> = (0..3)
        .map(|i| std::thread::spawn(move || run_four_elements(i)))
        .collect();
    for p in pipelines {
        if let Err(panic) = p.join() {
            std::panic::resume_unwind(panic);
        }
    }
}
