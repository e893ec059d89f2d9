// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxanomaly with the clipped_reconstruction fixture (reconstruction = min(input, 0.6), pure
//! L2 error, error_scale 0.05): the error is known in closed form, so the heatmap must light up
//! on the bright square and nowhere else, and the score must cross the threshold on the frames
//! that have the square only.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;
use gst_video::prelude::*;

const W: usize = 48;
const H: usize = 40;
const DARK: u8 = 80; // 0.31: reconstructed exactly
const BRIGHT: u8 = 230; // 0.90: reconstructed as 0.6
/// The square with the bright pixels.
const SQUARE: (usize, usize, usize) = (16, 12, 14); // x, y, side

fn frame(with_square: bool) -> Vec<u8> {
    let mut rgb = vec![DARK; W * H * 3];
    if with_square {
        let (x0, y0, n) = SQUARE;
        for y in y0..y0 + n {
            for x in x0..x0 + n {
                rgb[(y * W + x) * 3..(y * W + x) * 3 + 3].fill(BRIGHT);
            }
        }
    }
    rgb
}

/// The normalised error on the square: L2 over the three channels of (0.90 - 0.6), / 0.05.
fn square_error() -> f32 {
    3f32.sqrt() * (BRIGHT as f32 / 255.0 - 0.6) / 0.05
}

fn inside(x: usize, y: usize, margin: usize) -> bool {
    let (x0, y0, n) = SQUARE;
    x >= x0 + margin && x < x0 + n - margin && y >= y0 + margin && y < y0 + n - margin
}

fn outside(x: usize, y: usize, margin: usize) -> bool {
    let (x0, y0, n) = SQUARE;
    x + margin < x0 || x >= x0 + n + margin || y + margin < y0 || y >= y0 + n + margin
}

fn anomaly(extra: &str) -> String {
    format!(
        "onnxanomaly model-file={} {extra}",
        fixture_str("clipped_reconstruction.onnx")
    )
}

#[test]
fn error_output_lights_up_the_square_and_nothing_else() {
    init();
    let max_error = 20.0;
    let mut h =
        gst_check::Harness::new_parse(&anomaly(&format!("output=error max-error={max_error}")));
    h.set_src_caps(caps(VideoFormat::Rgbx, W, H));
    h.push(pack(&frame(true), W, H, VideoFormat::Rgbx, W * 4 + 16))
        .unwrap();
    let out = h.pull().unwrap();
    let info = gst_video::VideoInfo::builder(VideoFormat::Gray8, W as u32, H as u32)
        .build()
        .unwrap();
    let map = gst_video::VideoFrameRef::from_buffer_ref_readable(out.as_ref(), &info).unwrap();
    let stride = map.plane_stride()[0] as usize;
    let data = map.plane_data(0).unwrap();
    let expected_inside = (square_error() / max_error * 255.0).round() as u8;
    for y in 0..H {
        for x in 0..W {
            let level = data[y * stride + x];
            // Smoothing (sigma 1, 3 pixels) blurs only the square's border.
            if inside(x, y, 3) {
                assert!(
                    level.abs_diff(expected_inside) <= 1,
                    "({x},{y}): {level} != {expected_inside}"
                );
            } else if outside(x, y, 3) {
                assert_eq!(level, 0, "({x},{y})");
            }
        }
    }
}

#[test]
fn overlay_colours_the_square_with_the_colour_map_and_leaves_the_rest() {
    init();
    let (alpha, max_error) = (0.6f32, 20.0f32);
    let out = run_one(
        &anomaly(&format!("alpha={alpha} max-error={max_error} threshold=2")),
        VideoFormat::Rgb,
        W,
        H,
        pack(&frame(true), W, H, VideoFormat::Rgb, W * 3 + 4),
    );
    let (rgb, _) = unpack(
        &out,
        &gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgb, W, H)).unwrap(),
    );
    let heat = colorous::INFERNO.eval_continuous((square_error() / max_error) as f64);
    let heat = [heat.r, heat.g, heat.b];
    let blended: Vec<u8> = heat
        .iter()
        .map(|c| (BRIGHT as f32 + (*c as f32 - BRIGHT as f32) * alpha).round() as u8)
        .collect();
    for y in 0..H {
        for x in 0..W {
            let px = &rgb[(y * W + x) * 3..(y * W + x) * 3 + 3];
            if inside(x, y, 3) {
                assert!(
                    max_diff(px, &blended) <= 2,
                    "({x},{y}): {px:?} != {blended:?}"
                );
            } else if outside(x, y, 3) {
                assert_eq!(px, [DARK; 3], "({x},{y}) must stay clear");
            }
        }
    }
}

#[test]
fn score_crosses_the_threshold_on_anomalous_frames_only_and_is_posted_once_per_crossing() {
    init();
    let mut h = gst_check::Harness::new_parse(&anomaly("threshold=2"));
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(caps(VideoFormat::Bgrx, W, H));
    let sequence = [false, true, true, true, false, false, true];
    let mut scores = Vec::new();
    for (i, square) in sequence.iter().enumerate() {
        let mut buffer = pack(&frame(*square), W, H, VideoFormat::Bgrx, W * 4);
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(100 * i as u64));
        h.push(buffer).unwrap();
        let out = h.pull().unwrap();
        let meta = gst::meta::CustomMeta::from_buffer(&out, "GstAutoencoderAnomalyMeta").unwrap();
        let s = meta.structure();
        scores.push((
            s.get::<f64>("score").unwrap(),
            s.get::<bool>("anomalous").unwrap(),
        ));
    }
    for ((score, anomalous), square) in scores.iter().zip(sequence) {
        assert_eq!(*anomalous, square, "score {score}");
        if square {
            // The square covers 10% of the frame: the 99th percentile is its error.
            assert!((*score as f32 - square_error()).abs() < 0.05, "{score}");
        } else {
            assert!(*score < 1e-3, "{score}");
        }
    }
    let mut messages = Vec::new();
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Element]) {
        let s = msg.structure().unwrap();
        if s.name() == "autoencoder-anomaly" {
            messages.push((
                s.get::<gst::ClockTime>("timestamp").unwrap().mseconds(),
                s.get::<bool>("anomalous").unwrap(),
            ));
        }
    }
    assert_eq!(messages, [(100, true), (400, false), (600, true)]);
}

#[test]
fn a_model_without_an_error_scale_needs_the_property() {
    init();
    // channel_swap has no metadata at all: no kind, no error_scale.
    let pipeline: gst::Pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=32,height=32 ! \
         onnxanomaly model-file={} ! fakesink",
        fixture_str("channel_swap.onnx")
    ))
    .unwrap()
    .downcast()
    .unwrap();
    let err = start_error(&pipeline);
    assert!(
        err.contains("has no 'error_scale'") && err.contains("set the property error-scale"),
        "{err}"
    );
}

/// Little-endian float32 values from a reference file.
fn read_f32(path: &std::path::Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// `input` (RGB, `width` x `height`) through `onnxanomaly <props> output=error` (255 at
/// `max_error`): the GRAY8 error map and the meta's score and anomalous flag.
fn error_map_of(
    props: &str,
    input: &[u8],
    (width, height): (usize, usize),
    max_error: f32,
) -> (Vec<u8>, f64, bool) {
    let out = run_one(
        &format!("onnxanomaly {props} output=error max-error={max_error}"),
        VideoFormat::Rgb,
        width,
        height,
        pack(input, width, height, VideoFormat::Rgb, width * 3),
    );
    let meta = gst::meta::CustomMeta::from_buffer(&out, "GstAutoencoderAnomalyMeta").unwrap();
    let s = meta.structure();
    (
        gray8(&out, width, height),
        s.get::<f64>("score").unwrap(),
        s.get::<bool>("anomalous").unwrap(),
    )
}

/// The GRAY8 error output for a model's own map divided by `error_scale`.
fn gray_of_map(map: &[f32], error_scale: f32, max_error: f32) -> Vec<u8> {
    map.iter()
        .map(|m| ((m / error_scale / max_error).clamp(0.0, 1.0) * 255.0 + 0.5) as u8)
        .collect()
}

#[test]
fn a_model_that_gives_its_own_map_and_score_runs_as_anomalib_exports_do() {
    init();
    // anomalib_like: outputs named as anomalib's exports (pred_score, pred_label, anomaly_map,
    // pred_mask), no metadata. Its map divided by 0.25 (anomalib's 0.5 threshold at the
    // element's default 2) is the error; its score, likewise, the frame's score.
    let (w, h) = (64, 48);
    let input = read_rgb("smooth_64x48.rgb", w, h);
    let map = read_f32(&fixture("anomalib_like_64x48.f32"));
    let score: f32 = std::fs::read_to_string(fixture("anomalib_like_64x48.score"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let max_error = 3.0f32;
    let model = fixture_str("anomalib_like.onnx");
    let expected = gray_of_map(&map, 0.25, max_error);
    for mode in ["", "non-blocking=true wait-first-result=true"] {
        let (got, frame_score, _) = error_map_of(
            &format!("model-file={model} {mode}"),
            &input,
            (w, h),
            max_error,
        );
        assert!(
            max_diff(&got, &expected) <= 1,
            "{mode}: max diff {}",
            max_diff(&got, &expected)
        );
        assert!(
            (frame_score as f32 - score / 0.25).abs() < 1e-4,
            "{mode}: score {frame_score}, the model's {score}"
        );
    }
}

#[test]
fn the_shipped_anomalib_model_matches_onnx_runtime_in_python() {
    init();
    // models/anomalib_brick.onnx: anomalib's DRAEM exported by anomalib itself (map [1,96,96],
    // score [1]); references from ONNX Runtime's Python API (models/anomalib_brick.py).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("models/reference/anomalib_brick.json")).unwrap(),
    )
    .unwrap();
    let model = root.join("models/anomalib_brick.onnx");
    let (w, h, max_error) = (96, 96, 4.0f32);
    let samples = json["samples"].as_object().unwrap();
    assert_eq!(samples.len(), 3);
    for (name, sample) in samples {
        let input = std::fs::read(root.join(sample["input"].as_str().unwrap())).unwrap();
        let map = read_f32(&root.join(sample["anomaly_map"].as_str().unwrap()));
        let (got, score, anomalous) = error_map_of(
            &format!("model-file={}", model.display()),
            &input,
            (w, h),
            max_error,
        );
        let expected = gray_of_map(&map, 0.25, max_error);
        assert!(
            max_diff(&got, &expected) <= 1,
            "{name}: max diff {}",
            max_diff(&got, &expected)
        );
        let python = sample["pred_score"].as_f64().unwrap() / 0.25;
        assert!(
            (score - python).abs() < 1e-4,
            "{name}: score {score}, Python {python}"
        );
        // The element's default threshold 2 is anomalib's 0.5.
        assert_eq!(anomalous, sample["pred_label"].as_bool().unwrap(), "{name}");
    }
}
