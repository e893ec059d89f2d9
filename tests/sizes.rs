// SPDX-License-Identifier: MIT OR Apache-2.0
//! What only running a model shows, found at start: the size multiple a dynamic-size model
//! needs when it does not declare one, and output rules (batch, empty output, class count,
//! reconstruction size) broken whatever the input size. And a model that fails on the
//! negotiated frame size says so once, with a remedy, without running again.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;

const W: usize = 33;
const H: usize = 25;
const ELEMENTS: [&str; 3] = ["onnxstyletransfer", "onnxsegmentation", "onnxanomaly"];

/// Runs `input` (RGB, `width` x `height`) through `element` on an appsrc ! appsink flow:
/// the output's RGB and the `autoencoder-provider` start message's size multiple and source.
fn run_and_report(
    element: &str,
    input: &[u8],
    width: usize,
    height: usize,
) -> (Vec<u8>, u32, String) {
    init();
    let caps = caps(VideoFormat::Rgb, width, height);
    let flow = Flow::new(element, &caps);
    let out = flow.process(pack(input, width, height, VideoFormat::Rgb, width * 3));
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let (rgb, _) = unpack(&out, &info);
    let bus = flow.pipeline.bus().unwrap();
    let report = std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Element]))
        .find_map(|m| {
            let s = m.structure()?;
            (s.name() == "autoencoder-provider").then(|| {
                (
                    s.get::<u32>("size-multiple").unwrap(),
                    s.get::<String>("size-multiple-source").unwrap(),
                )
            })
        })
        .expect("the start message");
    (rgb, report.0, report.1)
}

/// PSNR in dB between two images of the same size.
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}

#[test]
fn a_size_multiple_the_model_does_not_declare_is_found_at_start() {
    let input = read_rgb("input_33x25.rgb", W, H);
    // Pads inside to multiples of 4 (returns 36x28 for 33x25): found, and the output matches
    // ONNX Runtime's Python run at 36x28 cropped back.
    let model = fixture_str("pads_inside_4.onnx");
    let reference = read_rgb("pads_inside_4_33x25.rgb", W, H);
    let (out, multiple, source) = run_and_report(
        &format!("onnxstyletransfer model-file={model}"),
        &input,
        W,
        H,
    );
    assert_eq!((multiple, source.as_str()), (4, "found"));
    assert!(
        max_diff(&out, &reference) <= 1,
        "max diff {}",
        max_diff(&out, &reference)
    );
    // The same model told multiple 1: its padded output is squeezed back into the frame,
    // which the reference tells apart (the failure this test guards against).
    let (squeezed, multiple, source) = run_and_report(
        &format!("onnxstyletransfer model-file={model} size-multiple=1"),
        &input,
        W,
        H,
    );
    assert_eq!((multiple, source.as_str()), (1, "not-found"));
    assert!(
        psnr(&squeezed, &reference) < 35.0,
        "{}",
        psnr(&squeezed, &reference)
    );

    // Fails outright on sides that are not multiples of 32 (a detector's feature pyramid):
    // found, and 70x40 frames run at 96x64, exact.
    let (w, h) = (70, 40);
    let frame: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
    let swapped: Vec<u8> = frame
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[0], p[1]])
        .collect();
    let model = fixture_str("space_to_depth_32.onnx");
    let (out, multiple, source) = run_and_report(
        &format!("onnxstyletransfer model-file={model}"),
        &frame,
        w,
        h,
    );
    assert_eq!((multiple, source.as_str()), (32, "found"));
    assert_eq!(out, swapped);

    // Declared multiples are used as they are; a fixed input has none.
    let (_, multiple, source) = run_and_report(
        &format!(
            "onnxstyletransfer model-file={}",
            fixture_str("dynamic_conv.onnx")
        ),
        &input,
        W,
        H,
    );
    assert_eq!((multiple, source.as_str()), (2, "declared"));
    let (_, _, source) = run_and_report(
        &format!(
            "onnxstyletransfer model-file={}",
            fixture_str("fixed_colour.onnx")
        ),
        &input,
        W,
        H,
    );
    assert_eq!(source, "fixed-input");
}

/// `videotestsrc ! <element> model-file=<fixture> ! fakesink`: the error the start gives.
fn start_error_of(element: &str, fixture: &str) -> String {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=64,height=48 ! \
         {element} model-file={} ! fakesink",
        fixture_str(fixture)
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    start_error(&pipeline)
}

#[test]
fn output_rules_are_checked_at_start() {
    let at = |fixture: &str, size: &str| {
        format!(
            "model '{}': on a {size} input at start: ",
            fixture_str(fixture)
        )
    };
    for element in ELEMENTS {
        let message = start_error_of(element, "batch_two.onnx");
        let expected = match element {
            "onnxsegmentation" => {
                "the model returned class scores of shape [2,3,73,97]; expected [1,K,H,W] with \
                 1 <= K <= 256"
            }
            "onnxanomaly" => {
                "the model returned a reconstruction of shape [2,3,73,97]; expected [1,3,H,W]"
            }
            _ => "the model returned an output of shape [2,3,73,97]; expected [1,3,H,W]",
        };
        assert!(
            message.starts_with(&(at("batch_two.onnx", "97x73") + expected)),
            "{element}: {message}"
        );
        let message = start_error_of(element, "empty_output.onnx");
        assert!(
            message.starts_with(
                &(at("empty_output.onnx", "97x73") + "the model returned an empty output 0x0")
            ),
            "{element}: {message}"
        );
    }
    // Half the input size: an image model's output is resized to the frame, but an anomaly
    // autoencoder must reconstruct at the input's size.
    let message = start_error_of("onnxanomaly", "half_size.onnx");
    assert!(
        message.starts_with(
            &(at("half_size.onnx", "98x74")
                + "the reconstruction is 49x37 for a 98x74 input; an anomaly autoencoder must \
                   keep the size")
        ),
        "{message}"
    );
    // 257 classes, known from the file alone.
    let message = start_error_of("onnxsegmentation", "seg_257_classes.onnx");
    assert!(
        message.contains(
            "is not a segmentation model: it has 257 classes; the element tells at most 256 \
             apart (its class ids are 8-bit, GRAY8)"
        ),
        "{message}"
    );
}

#[test]
fn a_model_that_fails_on_the_frame_size_says_so_once_with_a_remedy() {
    init();
    // Count the warm-ups of this element: negotiation tries the same caps more than once,
    // but the failure is remembered, not run again.
    let warm_ups: Arc<Mutex<usize>> = Arc::default();
    {
        let warm_ups = Arc::clone(&warm_ups);
        gst::log::add_log_function(move |_, _, _, _, _, obj, msg| {
            let ours = obj.is_some_and(|o| o.to_string() == "tiny");
            if ours
                && msg
                    .get()
                    .is_some_and(|m| m.as_str().starts_with("warm-up on"))
            {
                *warm_ups.lock().unwrap() += 1;
            }
        });
    }
    gst::log::set_active(true);
    gst::log::set_threshold_for_name("onnxstyletransfer", gst::DebugLevel::Debug);
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/style_mosaic.onnx");
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width=4,height=4 ! \
         onnxstyletransfer name=tiny model-file={} ! fakesink",
        model.display()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let first = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Error])
        .expect("an error");
    // Whatever else the pipeline says comes within a moment.
    std::thread::sleep(std::time::Duration::from_millis(300));
    pipeline.set_state(gst::State::Null).unwrap();
    let later: Vec<gst::Message> =
        std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Error])).collect();
    assert_eq!(
        first.src().unwrap().name(),
        "tiny",
        "the element speaks first"
    );
    let gst::MessageView::Error(e) = first.view() else {
        unreachable!()
    };
    let message = e.error().to_string();
    assert!(
        message.starts_with(&format!(
            "model '{}' on 4x4 frames: inference failed on a 4x4 input: ",
            model.display()
        )),
        "{message}"
    );
    assert!(
        message.ends_with(
            "; it ran on 100x76 at start: give it larger frames (a videoscale before it) or a \
             larger inference-scale"
        ),
        "{message}"
    );
    assert!(
        later.iter().all(|m| m.src().unwrap().name() != "tiny"),
        "posted once: {later:?}"
    );
    assert_eq!(
        *warm_ups.lock().unwrap(),
        1,
        "one warm-up for one frame size"
    );
}
