// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxsuperresolution: pixels against ONNX Runtime's Python output
//! (tests/fixtures/make_superres_fixtures.py) for a colour and a luma model, caps negotiation
//! both ways and mid-stream, and the errors for models and caps it cannot use.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;

const W: usize = 33;
const H: usize = 25;

fn element(model: &str) -> String {
    format!(
        "onnxsuperresolution name=sr model-file={}",
        fixture_str(model)
    )
}

/// Runs the 33x25 test image through `model` in `format` (padded stride) and returns the
/// output's colour and its size.
fn enlarge(model: &str, format: VideoFormat) -> (Vec<u8>, usize, usize) {
    let input = read_rgb("input_33x25.rgb", W, H);
    let (bpp, _, _) = layout(format);
    let flow = Flow::new(&element(model), &caps(format, W, H));
    let out = flow.process(pack(&input, W, H, format, W * bpp + 8));
    let sample_caps = flow
        .sink
        .static_pad("sink")
        .unwrap()
        .current_caps()
        .unwrap();
    let info = gst_video::VideoInfo::from_caps(&sample_caps).unwrap();
    assert_eq!(info.format(), format);
    let (rgb, _) = unpack(&out, &info);
    (rgb, info.width() as usize, info.height() as usize)
}

#[test]
fn a_colour_model_matches_the_python_reference_in_every_layout() {
    init();
    let reference = read_rgb("superres_rgb_x2_66x50.rgb", 2 * W, 2 * H);
    for format in [
        VideoFormat::Rgb,
        VideoFormat::Bgrx,
        VideoFormat::Rgba,
        VideoFormat::Abgr,
    ] {
        let (rgb, width, height) = enlarge("superres_rgb_x2.onnx", format);
        assert_eq!((width, height), (2 * W, 2 * H), "{format:?}");
        let diff = max_diff(&rgb, &reference);
        assert!(diff <= 1, "{format:?}: max difference {diff} levels");
    }
}

#[test]
fn a_luma_model_sets_the_luma_and_keeps_the_bicubic_colour() {
    init();
    let (w, h) = (3 * W, 3 * H);
    let y_model: Vec<f32> = std::fs::read(fixture("superres_luma_x3_99x75.y.f32"))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let bicubic = read_rgb("superres_bicubic_x3_99x75.rgb", w, h);
    for format in [VideoFormat::Rgb, VideoFormat::Bgra] {
        let (rgb, width, height) = enlarge("superres_luma_x3.onnx", format);
        assert_eq!((width, height), (w, h), "{format:?}");
        let (mut luma_worst, mut chroma_worst, mut compared) = (0f32, 0f32, 0);
        for ((px, base), y) in rgb
            .chunks_exact(3)
            .zip(bicubic.chunks_exact(3))
            .zip(&y_model)
        {
            let [r, g, b] = [px[0], px[1], px[2]].map(f32::from);
            // Where a channel is clamped, the luma cannot be exact: skip those pixels.
            if px.iter().any(|&c| c == 0 || c == 255) {
                continue;
            }
            compared += 1;
            let luma = 0.299 * r + 0.587 * g + 0.114 * b;
            luma_worst = luma_worst.max((luma - y * 255.0).abs());
            // The colour: differences between channels (Cb and Cr up to scale) as the
            // bicubic enlargement has them.
            let [br, bg, bb] = [base[0], base[1], base[2]].map(f32::from);
            chroma_worst = chroma_worst
                .max(((r - g) - (br - bg)).abs())
                .max(((b - g) - (bb - bg)).abs());
        }
        // The test image reaches 0 and 255 in places; most pixels are compared.
        assert!(compared > w * h / 2, "{format:?}: {compared} compared");
        eprintln!(
            "{format:?}: {compared} pixels, luma within {luma_worst}, colour within {chroma_worst}"
        );
        assert!(luma_worst <= 1.0, "{format:?}: luma off by {luma_worst}");
        assert!(
            chroma_worst <= 3.0,
            "{format:?}: colour off by {chroma_worst}"
        );
    }
}

#[test]
fn the_scale_factor_is_read_from_the_model() {
    init();
    for (model, factor) in [("superres_rgb_x2.onnx", 2u32), ("superres_luma_x3.onnx", 3)] {
        let flow = Flow::new(&element(model), &caps(VideoFormat::Rgb, W, H));
        assert_eq!(flow.element("sr").property::<u32>("scale-factor"), factor);
    }
}

#[test]
fn downstream_asking_for_a_size_sets_the_input_size() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 ! videoscale ! {} ! \
         video/x-raw,format=RGB,width=120,height=90 ! appsink name=sink sync=false",
        element("superres_rgb_x2.onnx")
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let sample = sink
        .try_pull_sample(gst::ClockTime::from_seconds(20))
        .expect("a frame");
    let out = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let sr = pipeline.by_name("sr").unwrap();
    let incaps = sr.static_pad("sink").unwrap().current_caps().unwrap();
    let input = gst_video::VideoInfo::from_caps(&incaps).unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!((out.width(), out.height()), (120, 90));
    assert_eq!((input.width(), input.height()), (60, 45));
    assert_eq!(input.par(), out.par(), "pixel-aspect-ratio kept");
}

#[test]
fn caps_change_mid_stream() {
    init();
    let flow = Flow::new(
        &element("superres_rgb_x2.onnx"),
        &caps(VideoFormat::Rgb, W, H),
    );
    let input = read_rgb("input_33x25.rgb", W, H);
    let sink_pad = flow.sink.static_pad("sink").unwrap();
    flow.process(pack(&input, W, H, VideoFormat::Rgb, W * 3));
    let first = gst_video::VideoInfo::from_caps(&sink_pad.current_caps().unwrap()).unwrap();
    assert_eq!((first.width(), first.height()), (66, 50));
    // A smaller frame: its top-left 20x16 of the test image, in BGRx.
    let (w2, h2) = (20, 16);
    let crop: Vec<u8> = (0..h2)
        .flat_map(|y| input[y * W * 3..(y * W + w2) * 3].to_vec())
        .collect();
    flow.src.set_caps(Some(&caps(VideoFormat::Bgrx, w2, h2)));
    let out = flow.process(pack(&crop, w2, h2, VideoFormat::Bgrx, w2 * 4));
    let second = gst_video::VideoInfo::from_caps(&sink_pad.current_caps().unwrap()).unwrap();
    assert_eq!((second.width(), second.height()), (40, 32));
    assert_eq!(second.format(), VideoFormat::Bgrx);
    // Away from the crop's right and bottom edges the model sees the same pixels as in the
    // full image, so the output agrees with the full reference there.
    let reference = read_rgb("superres_rgb_x2_66x50.rgb", 2 * W, 2 * H);
    let (rgb, _) = unpack(&out, &second);
    for y in 0..2 * (h2 - 2) {
        for x in 0..2 * (w2 - 2) {
            for c in 0..3 {
                let (got, want) = (rgb[(y * 40 + x) * 3 + c], reference[(y * 66 + x) * 3 + c]);
                assert!(got.abs_diff(want) <= 1, "({x},{y}) c{c}: {got} vs {want}");
            }
        }
    }
    assert!(flow.errors().is_empty(), "{:?}", flow.errors());
}

/// The error a pipeline posts before it ends (EOS or error), if any.
fn pipeline_error(launch: &str) -> String {
    init();
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Error, gst::MessageType::Eos],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Error(e)) => {
            format!(
                "{} | {} | from {}",
                e.error(),
                e.debug().unwrap_or_default(),
                e.src().map(|s| s.name().to_string()).unwrap_or_default()
            )
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn an_output_beyond_the_largest_side_fails_negotiation_by_name() {
    let message = pipeline_error(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=9000,height=8 ! {} ! \
         fakesink",
        element("superres_rgb_x2.onnx")
    ));
    assert!(
        message.contains(
            "cannot enlarge 9000x8 frames by 2: the output would be 18000x16, \
                          beyond 16384 pixels a side"
        ) && message.contains("from sr"),
        "{message}"
    );
}

#[test]
fn a_size_downstream_refuses_is_named() {
    let message = pipeline_error(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=33,height=25 ! {} ! \
         video/x-raw,width=67,height=50 ! fakesink",
        element("superres_rgb_x2.onnx")
    ));
    assert!(
        message.contains("enlarges 33x25 frames to 66x50, which downstream does not accept")
            && message.contains("width=(int)67")
            && message.contains("from sr"),
        "{message}"
    );
}

#[test]
fn models_that_do_not_enlarge_by_a_whole_factor_are_refused_at_start() {
    init();
    let start = |model: &str| {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=64,height=48 ! {} ! \
             fakesink",
            element(model)
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        start_error(&pipeline)
    };
    let message = start("superres_not_whole.onnx");
    assert!(
        message.contains("is not a super-resolution model")
            && message.contains("97x73: the output is 145x109"),
        "{message}"
    );
    let message = start("superres_declares_4.onnx");
    assert!(
        message.contains(
            "its metadata says scale 4, but its output [1,3,146,194] on a 97x73 \
                          input is 2 times larger"
        ),
        "{message}"
    );
    // A segmentation model is not a super-resolution model (its metadata says so).
    let message = start("declared_segmentation.onnx");
    assert!(message.contains("onnxsegmentation runs it"), "{message}");
}

fn read_f32(path: &std::path::Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The shipped models (models/superres_*.onnx) through the element on their reference input
/// (a 64x48 crop of a held-out photo), against ONNX Runtime's Python output
/// (models/reference/, written by `python3 -m models.superres references`).
#[test]
fn the_shipped_models_match_their_python_references() {
    init();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let reference = root.join("reference");
    let (w, h) = (64, 48);
    let input = std::fs::read(reference.join("superres_input_64x48.rgb")).unwrap();
    for (name, luma) in [
        ("superres_espcn_x2", true),
        ("superres_vdsr_x2", true),
        ("superres_espcn_rgb_x2", false),
    ] {
        let expected = read_f32(&reference.join(format!("{name}.output.f32")));
        let launch = format!(
            "onnxsuperresolution model-file={}",
            root.join(format!("{name}.onnx")).display()
        );
        let out = run_one(
            &launch,
            VideoFormat::Rgb,
            w,
            h,
            pack(&input, w, h, VideoFormat::Rgb, w * 3),
        );
        let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgb, 2 * w, 2 * h)).unwrap();
        let (rgb, _) = unpack(&out, &info);
        if luma {
            // Y' of the output frame against the model's Y' (pixels where no channel is
            // clamped; there the element's luma is exact to rounding).
            let mut worst = 0f32;
            for (px, y) in rgb.chunks_exact(3).zip(&expected) {
                if px.iter().any(|&c| c == 0 || c == 255) {
                    continue;
                }
                let [r, g, b] = [px[0], px[1], px[2]].map(f32::from);
                worst = worst.max((0.299 * r + 0.587 * g + 0.114 * b - y * 255.0).abs());
            }
            assert!(worst <= 1.0, "{name}: luma off by {worst}");
        } else {
            let plane = 4 * w * h;
            let want: Vec<u8> = (0..plane)
                .flat_map(|i| (0..3).map(move |c| i + c * plane))
                .map(|i| (expected[i] * 255.0 + 0.5).clamp(0.0, 255.0) as u8)
                .collect();
            let diff = max_diff(&rgb, &want);
            assert!(diff <= 1, "{name}: max difference {diff} levels");
        }
    }
}
