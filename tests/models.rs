// SPDX-License-Identifier: MIT OR Apache-2.0
//! The trained models committed under models/: each loads in ONNX Runtime, has the documented
//! input, output and metadata, and reproduces the output that ONNX Runtime's Python API stored
//! at export time (models/reference/), so a re-export that changes behaviour is noticed.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;
use gstautoencoder::inference::model::{Dim, keys};
use gstautoencoder::inference::{InferenceSession, Preprocessing, ProviderChoice, SessionConfig};

const REF_W: usize = 64;
const REF_H: usize = 48;

struct Shipped {
    file: &'static str,
    kind: &'static str,
    output: &'static str,
    /// Output channels (None: the number of classes in the metadata).
    channels: Option<usize>,
    /// Largest difference allowed from the stored Python output.
    tolerance: f32,
}

/// fp32 models: float rounding only.
const FP32: f32 = 1e-4;
/// int8 models: the stored output was computed on another CPU, whose int8 kernels may be other
/// ones (VNNI or not). The 7-bit weights keep their integer sums exact on every CPU, but the
/// requantisation between layers may round one step apart: allow two output steps (1/255 each).
const INT8: f32 = 2.0 / 255.0 + 1e-4;

const SHIPPED: [Shipped; 6] = [
    Shipped {
        file: "style_mosaic",
        kind: "style",
        output: "output",
        channels: Some(3),
        tolerance: FP32,
    },
    Shipped {
        file: "style_mosaic_rt",
        kind: "style",
        output: "output",
        channels: Some(3),
        tolerance: FP32,
    },
    Shipped {
        file: "style_swirl",
        kind: "style",
        output: "output",
        channels: Some(3),
        tolerance: FP32,
    },
    Shipped {
        file: "segmentation_unet",
        kind: "segmentation",
        output: "scores",
        channels: None,
        tolerance: FP32,
    },
    Shipped {
        file: "segmentation_unet_int8",
        kind: "segmentation",
        output: "scores",
        channels: None,
        tolerance: INT8,
    },
    Shipped {
        file: "anomaly_brick",
        kind: "anomaly",
        output: "reconstruction",
        channels: Some(3),
        tolerance: FP32,
    },
];

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

fn load(file: &str) -> InferenceSession {
    let config = SessionConfig {
        provider: ProviderChoice::Cpu,
        ..Default::default()
    };
    InferenceSession::load(&models_dir().join(format!("{file}.onnx")), &config)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn reference_input() -> Vec<f32> {
    let rgb = std::fs::read(models_dir().join("reference/input_64x48.rgb")).unwrap();
    assert_eq!(rgb.len(), REF_W * REF_H * 3);
    // NCHW, 0-1: what every shipped model takes (checked below through its metadata).
    let mut planar = vec![0.0f32; rgb.len()];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            planar[c * REF_W * REF_H + i] = px[c] as f32 / 255.0;
        }
    }
    planar
}

fn reference_output(file: &str) -> Vec<f32> {
    let bytes = std::fs::read(models_dir().join(format!("reference/{file}.output.f32"))).unwrap();
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn require(meta: &HashMap<String, String>, file: &str, key: &str) -> String {
    meta.get(key)
        .cloned()
        .unwrap_or_else(|| panic!("{file}: metadata key '{key}' missing"))
}

#[test]
fn shipped_models_have_their_documented_interface_and_metadata() {
    for m in &SHIPPED {
        let session = load(m.file);
        let d = session.description();
        assert_eq!(d.input.name, "input", "{}", m.file);
        assert_eq!(
            (d.input.height, d.input.width),
            (Dim::Dynamic, Dim::Dynamic),
            "{}",
            m.file
        );
        assert_eq!(d.outputs.len(), 1, "{}", m.file);
        assert_eq!(d.outputs[0].name, m.output, "{}", m.file);
        assert_eq!(require(&d.metadata, m.file, keys::KIND), m.kind);
        let pre = Preprocessing::resolve(&d.metadata, &Default::default()).unwrap();
        assert_eq!(
            pre,
            Preprocessing {
                size_multiple: pre.size_multiple,
                ..Default::default()
            }
        );
        assert!(
            pre.size_multiple >= 4,
            "{}: size_multiple {}",
            m.file,
            pre.size_multiple
        );
        let channels = match m.channels {
            Some(c) => c,
            None => {
                let names = require(&d.metadata, m.file, "class_names");
                let colours = require(&d.metadata, m.file, "class_colors");
                let k = names.split(',').count();
                assert_eq!(
                    colours.split(';').count(),
                    k,
                    "{}: one colour per class",
                    m.file
                );
                k
            }
        };
        d.outputs[0].expect_image(channels as i64).unwrap();
        if m.kind == "anomaly" {
            let scale: f32 = require(&d.metadata, m.file, "error_scale").parse().unwrap();
            assert!(
                scale > 0.0 && scale.is_finite(),
                "{}: error_scale {scale}",
                m.file
            );
        }
    }
}

#[test]
fn shipped_models_reproduce_their_stored_reference() {
    let input = reference_input();
    for m in &SHIPPED {
        let mut session = load(m.file);
        let expected = reference_output(m.file);
        // Twice, with another input in between: the bound tensors must follow the input.
        for round in 0..2 {
            let tensor = session.input_mut(REF_W, REF_H).unwrap();
            if round == 1 {
                tensor.fill(0.25);
                session.run().unwrap();
            }
            session
                .input_mut(REF_W, REF_H)
                .unwrap()
                .copy_from_slice(&input);
            let run = session.run().unwrap();
            assert_eq!(&run.shape[2..], &[REF_H as i64, REF_W as i64], "{}", m.file);
            assert_eq!(run.values.len(), expected.len(), "{}", m.file);
            let max_error = run
                .values
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                max_error <= m.tolerance,
                "{}: differs by {max_error}",
                m.file
            );
        }
    }
}

#[test]
fn shipped_style_models_run_in_the_element_as_in_python() {
    init();
    let rgb = std::fs::read(models_dir().join("reference/input_64x48.rgb")).unwrap();
    for m in SHIPPED.iter().filter(|m| m.kind == "style") {
        let expected: Vec<u8> = {
            // The stored NCHW 0-1 output, as pixels.
            let out = reference_output(m.file);
            (0..REF_W * REF_H)
                .flat_map(|i| (0..3).map(move |c| (i, c)))
                .map(|(i, c)| {
                    (out[c * REF_W * REF_H + i] * 255.0)
                        .clamp(0.0, 255.0)
                        .round() as u8
                })
                .collect()
        };
        let launch = format!(
            "onnxstyletransfer model-file={}",
            models_dir().join(format!("{}.onnx", m.file)).display()
        );
        let out = run_one(
            &launch,
            VideoFormat::Rgbx,
            REF_W,
            REF_H,
            pack(&rgb, REF_W, REF_H, VideoFormat::Rgbx, REF_W * 4),
        );
        let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgbx, REF_W, REF_H)).unwrap();
        let diff = max_diff(&unpack(&out, &info).0, &expected);
        assert!(diff <= 1, "{}: {diff} levels", m.file);
    }
}

fn element_output(launch: &str) -> Vec<u8> {
    let rgb = std::fs::read(models_dir().join("reference/input_64x48.rgb")).unwrap();
    let mut h = gst_check::Harness::new_parse(launch);
    h.set_src_caps(caps(VideoFormat::Rgb, REF_W, REF_H));
    h.push(pack(&rgb, REF_W, REF_H, VideoFormat::Rgb, REF_W * 3))
        .unwrap();
    let out = h.pull().unwrap();
    let map = out.map_readable().unwrap();
    // GRAY8 rows are padded to 4 bytes; 64 already is.
    map.as_slice()[..REF_W * REF_H].to_vec()
}

#[test]
fn shipped_segmentation_models_classes_match_python() {
    init();
    for m in SHIPPED.iter().filter(|m| m.kind == "segmentation") {
        let scores = reference_output(m.file);
        let k = scores.len() / (REF_W * REF_H);
        let plane = REF_W * REF_H;
        let expected: Vec<u8> = (0..plane)
            .map(|i| {
                let mut best = 0;
                for c in 1..k {
                    if scores[c * plane + i] > scores[best * plane + i] {
                        best = c;
                    }
                }
                best as u8
            })
            .collect();
        let got = element_output(&format!(
            "onnxsegmentation model-file={} output=classes",
            models_dir().join(format!("{}.onnx", m.file)).display()
        ));
        let same = got.iter().zip(&expected).filter(|(a, b)| a == b).count();
        // Pixels whose two best scores differ by float rounding alone may flip.
        assert!(
            same * 1000 >= plane * 998,
            "{}: {same} of {plane} pixels agree",
            m.file
        );
    }
}

#[test]
fn shipped_anomaly_model_error_map_matches_python() {
    init();
    let bytes = std::fs::read(models_dir().join("reference/anomaly_brick.error.f32")).unwrap();
    let errors: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let max_error = 40.0f32;
    let got = element_output(&format!(
        "onnxanomaly model-file={} output=error max-error={max_error}",
        models_dir().join("anomaly_brick.onnx").display()
    ));
    for (i, (level, e)) in got.iter().zip(&errors).enumerate() {
        let expected = ((e / max_error).clamp(0.0, 1.0) * 255.0).round() as u8;
        assert!(
            level.abs_diff(expected) <= 1,
            "pixel {i}: {level} != {expected} (error {e})"
        );
    }
}

/// Runs `filesrc location=docs/samples/<image> ! pngdec ! videoconvert ! <element> ! appsink`
/// and returns the GRAY8 output and the buffer's custom meta fields.
fn sample_pipeline(image: &str, element: &str, meta_name: &str) -> (Vec<u8>, gst::Structure) {
    init();
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/samples");
    let launch = format!(
        "filesrc location={} ! pngdec ! videoconvert ! video/x-raw,format=RGB ! {element} ! \
         appsink name=sink sync=false",
        samples.join(image).display()
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().expect("one output frame");
    let buffer = sample.buffer().unwrap();
    let structure = gst::meta::CustomMeta::from_buffer(buffer, meta_name)
        .unwrap()
        .structure()
        .to_owned();
    let data = buffer.map_readable().unwrap().to_vec();
    let bus = pipeline.bus().unwrap();
    let eos = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(10),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    assert!(
        matches!(
            eos.as_ref().map(|m| m.view()),
            Some(gst::MessageView::Eos(_))
        ),
        "{eos:?}"
    );
    pipeline.set_state(gst::State::Null).unwrap();
    (data, structure)
}

fn sample_file(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("docs/samples")
            .join(name),
    )
    .unwrap()
}

fn python_results() -> HashMap<String, f64> {
    let text = String::from_utf8(sample_file("results.json")).unwrap();
    // {"key": number, ...}: a flat object of numbers.
    text.trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace())
        .split(',')
        .map(|pair| {
            let (k, v) = pair.split_once(':').unwrap();
            (
                k.trim().trim_matches('"').to_owned(),
                v.trim().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn segmentation_pipeline_on_a_real_photo_scene_matches_python() {
    let model = models_dir().join("segmentation_unet.onnx");
    let (classes, meta) = sample_pipeline(
        "scene.png",
        &format!(
            "onnxsegmentation model-file={} output=classes",
            model.display()
        ),
        "GstAutoencoderSegmentationMeta",
    );
    let python = sample_file("scene.classes.u8");
    let labels = sample_file("scene.labels.u8");
    assert_eq!(classes.len(), python.len());
    let agree = classes.iter().zip(&python).filter(|(a, b)| a == b).count();
    assert!(
        agree * 1000 >= python.len() * 998,
        "{agree} of {} pixels agree with Python",
        python.len()
    );
    let accuracy =
        classes.iter().zip(&labels).filter(|(a, b)| a == b).count() as f64 / labels.len() as f64;
    let expected = python_results()["scene_pixel_accuracy"];
    assert!(
        (accuracy - expected).abs() < 0.002,
        "pixel accuracy {accuracy} vs Python {expected}"
    );
    let fractions: Vec<f64> = meta
        .get::<gst::Array>("fractions")
        .unwrap()
        .iter()
        .map(|v| v.get().unwrap())
        .collect();
    for (c, f) in fractions.iter().enumerate() {
        let share =
            classes.iter().filter(|id| **id as usize == c).count() as f64 / classes.len() as f64;
        assert!((f - share).abs() < 1e-12, "class {c}");
    }
}

#[test]
fn anomaly_pipeline_on_brick_with_defects_matches_python() {
    let model = models_dir().join("anomaly_brick.onnx");
    let max_error = 40.0f32;
    let (levels, meta) = sample_pipeline(
        "brick.png",
        &format!(
            "onnxanomaly model-file={} output=error max-error={max_error}",
            model.display()
        ),
        "GstAutoencoderAnomalyMeta",
    );
    let errors: Vec<f32> = sample_file("brick.error.f32")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(levels.len(), errors.len());
    for (i, (level, e)) in levels.iter().zip(&errors).enumerate() {
        let expected = ((e / max_error).clamp(0.0, 1.0) * 255.0).round() as u8;
        assert!(
            level.abs_diff(expected) <= 1,
            "pixel {i}: {level} != {expected}"
        );
    }
    let score = meta.get::<f64>("score").unwrap();
    let expected = python_results()["brick_score_p99"];
    assert!(
        (score - expected).abs() / expected < 0.02,
        "score {score} vs Python {expected}"
    );
    assert!(
        meta.get::<bool>("anomalous").unwrap(),
        "the defects make the frame anomalous"
    );
}
