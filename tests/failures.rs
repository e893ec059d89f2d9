// SPDX-License-Identifier: MIT OR Apache-2.0
//! Frames whose inference fails (`on-inference-error`), on every element: with `pass` each such
//! frame goes on without the model's result (never with an older frame's), is counted in
//! `failed-frames`, and the bus hears a warning and an `autoencoder-inference-failed` message
//! when failures start, when they end and at EOS; with `error` (the default) the first one is
//! an element error. The fixtures fail in ONNX Runtime itself on frames whose top-left pixel is
//! bright (tests/fixtures/make_failing_fixtures.py).

mod common;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;

const W: usize = 8;
const H: usize = 6;
const DARK: u8 = 64;

/// A dark frame (it runs), or a dark frame with a bright top-left pixel (its inference fails).
fn frame(fails: bool) -> (Vec<u8>, gst::Buffer) {
    let mut rgb = vec![DARK; W * H * 3];
    if fails {
        rgb[..3].fill(255);
    }
    let buffer = pack(&rgb, W, H, VideoFormat::Rgb, W * 3);
    (rgb, buffer)
}

/// An `autoencoder-inference-failed` message: (failed, total, recovered, error).
type FailureMessage = (u64, u64, bool, String);

/// Ends the stream and reads the bus up to EOS: the warnings, and the
/// `autoencoder-inference-failed` messages as (failed, total, recovered, error). An element
/// error fails the test.
fn finish(flow: &Flow) -> (Vec<String>, Vec<FailureMessage>) {
    flow.src.end_of_stream().unwrap();
    let bus = flow.pipeline.bus().unwrap();
    let (mut warnings, mut failures) = (Vec::new(), Vec::new());
    loop {
        let msg = bus
            .timed_pop(gst::ClockTime::from_seconds(10))
            .expect("EOS within 10 s");
        match msg.view() {
            gst::MessageView::Eos(_) => return (warnings, failures),
            gst::MessageView::Error(e) => panic!("no element error: {}", e.error()),
            gst::MessageView::Warning(w) => {
                warnings.push(format!("{} | {}", w.error(), w.debug().unwrap_or_default()))
            }
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == "autoencoder-inference-failed" {
                    failures.push((
                        s.get::<u64>("failed").unwrap(),
                        s.get::<u64>("total").unwrap(),
                        s.get::<bool>("recovered").unwrap(),
                        s.get::<String>("error").unwrap(),
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Each element with its failing fixture, and whether an output frame
/// carries the model's result (compared with the input frame it came from).
type Processed = fn(&gst::BufferRef, &[u8]) -> bool;

fn cases() -> Vec<(&'static str, &'static str, Processed)> {
    fn rgb(out: &gst::BufferRef, w: usize, h: usize) -> Vec<u8> {
        let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgb, w, h)).unwrap();
        unpack(out, &info).0
    }
    fn has_meta(out: &gst::BufferRef, name: &str) -> bool {
        gst::meta::CustomMeta::from_buffer(out, name).is_ok()
    }
    vec![
        // The model inverts the frame; unprocessed, it is the input.
        ("onnxstyletransfer", "style", |out, input| {
            let out = rgb(out, W, H);
            assert!(
                out == input || out.iter().all(|&v| v == 255 - DARK),
                "{out:?}"
            );
            out != input
        }),
        // Unprocessed: no meta, the frame untouched.
        ("onnxsegmentation", "segmentation", |out, input| {
            let meta = has_meta(out, "GstAutoencoderSegmentationMeta");
            assert!(meta || rgb(out, W, H) == input);
            meta
        }),
        ("onnxanomaly", "anomaly", |out, input| {
            let meta = has_meta(out, "GstAutoencoderAnomalyMeta");
            assert!(meta || rgb(out, W, H) == input);
            meta
        }),
        ("onnxmap", "map", |out, input| {
            let meta = has_meta(out, "GstAutoencoderMapMeta");
            assert!(meta || rgb(out, W, H) == input);
            meta
        }),
        // x2, inverted; unprocessed, the bicubic enlargement: bright at the top-left corner,
        // the input's level where the frame is flat.
        ("onnxsuperresolution", "superres", |out, _| {
            let out = rgb(out, 2 * W, 2 * H);
            if out.iter().all(|&v| v == 255 - DARK) {
                return true;
            }
            assert!(out[0] > 128 && out[out.len() - 3..].iter().all(|&v| v == DARK));
            false
        }),
    ]
}

#[test]
fn with_pass_failed_frames_go_on_unprocessed_counted_and_reported() {
    init();
    for (element, kind, processed) in cases() {
        let fixture = fixture_str(&format!("fails_when_bright_{kind}.onnx"));
        let flow = Flow::new(
            &format!("{element} name=e model-file={fixture} on-inference-error=pass"),
            &caps(VideoFormat::Rgb, W, H),
        );
        let mut seen = Vec::new();
        // Runs, fails twice, runs again, then fails at the end.
        for fails in [false, true, true, false, true] {
            let (input, buffer) = frame(fails);
            let out = flow.process(buffer);
            seen.push(processed(&out, &input));
        }
        assert_eq!(seen, [true, false, false, true, false], "{element}");
        let e = flow.element("e");
        assert_eq!(e.property::<u64>("failed-frames"), 3, "{element}");
        let (warnings, messages) = finish(&flow);
        // One warning for each run of failures, naming the model and ONNX Runtime's error.
        assert_eq!(warnings.len(), 2, "{element}: {warnings:?}");
        for w in &warnings {
            assert!(
                w.contains(&format!("fails_when_bright_{kind}.onnx' on {W}x{H} frames"))
                    && w.contains("indices element out of data bounds")
                    && w.contains("on-inference-error=pass"),
                "{element}: {w}"
            );
        }
        // Began (1), ended (2 frames), began again (1 of 3), still failing at EOS.
        let messages: Vec<(u64, u64, bool)> = messages
            .into_iter()
            .map(|(failed, total, recovered, error)| {
                assert!(
                    error.contains("indices element out of data bounds"),
                    "{error}"
                );
                (failed, total, recovered)
            })
            .collect();
        assert_eq!(
            messages,
            [(1, 1, false), (2, 2, true), (1, 3, false), (1, 3, false)],
            "{element}"
        );
    }
}

#[test]
fn by_default_a_failed_frame_is_an_element_error() {
    init();
    for (element, kind, _) in cases() {
        let fixture = fixture_str(&format!("fails_when_bright_{kind}.onnx"));
        let flow = Flow::new(
            &format!("{element} name=e model-file={fixture}"),
            &caps(VideoFormat::Rgb, W, H),
        );
        flow.process(frame(false).1);
        flow.src.push_buffer(frame(true).1).unwrap();
        // The error alone: no warning, no message about frames going on.
        let bus = flow.pipeline.bus().unwrap();
        let msg = loop {
            let msg = bus
                .timed_pop(gst::ClockTime::from_seconds(10))
                .expect("an element error");
            match msg.view() {
                gst::MessageView::Error(_) => break msg,
                gst::MessageView::Warning(w) => panic!("{element}: a warning: {}", w.error()),
                gst::MessageView::Element(e) => assert_ne!(
                    e.structure().unwrap().name(),
                    "autoencoder-inference-failed",
                    "{element}"
                ),
                _ => {}
            }
        };
        let gst::MessageView::Error(e) = msg.view() else {
            unreachable!()
        };
        assert!(e.error().matches(gst::StreamError::Failed), "{element}");
        assert!(
            e.error()
                .to_string()
                .contains("indices element out of data bounds"),
            "{element}: {}",
            e.error()
        );
        assert_eq!(flow.element("e").property::<u64>("failed-frames"), 1);
    }
}
