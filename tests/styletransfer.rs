// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxstyletransfer against references computed by ONNX Runtime's Python API
//! (tests/fixtures/make_fixtures.py) on the same pixels.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;

const W: usize = 33;
const H: usize = 25;

const ALL_FORMATS: [VideoFormat; 10] = [
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::Rgbx,
    VideoFormat::Bgrx,
    VideoFormat::Argb,
    VideoFormat::Abgr,
    VideoFormat::Xrgb,
    VideoFormat::Xbgr,
];

fn style(model: &str, extra: &str) -> String {
    format!(
        "onnxstyletransfer model-file={} {extra}",
        fixture_str(model)
    )
}

/// Runs `model` on the 33x25 test image in `format` with a padded stride; checks the colour
/// against `reference` (within `tolerance` levels) and the alpha/padding bytes untouched.
fn check_format(model: &str, extra: &str, reference: &[u8], format: VideoFormat, tolerance: u8) {
    let input = read_rgb("input_33x25.rgb", W, H);
    let (bpp, _, _) = layout(format);
    let stride = W * bpp + 12; // stride != width * bytes per pixel
    let out = run_one(
        &style(model, extra),
        format,
        W,
        H,
        pack(&input, W, H, format, stride),
    );
    let info = gst_video::VideoInfo::from_caps(&caps(format, W, H)).unwrap();
    let (rgb, alpha) = unpack(&out, &info);
    let diff = max_diff(&rgb, reference);
    assert!(
        diff <= tolerance,
        "{format:?}: max difference {diff} levels"
    );
    if bpp == 4 {
        let expected: Vec<u8> = (0..H)
            .flat_map(|y| (0..W).map(move |x| alpha_of(x, y)))
            .collect();
        assert_eq!(alpha, expected, "{format:?}: alpha changed");
    }
}

#[test]
fn every_format_matches_the_python_reference() {
    init();
    // BGR, 0-255, ImageNet mean/std, output 0-1, size multiple 2 (33x25 runs padded to 34x26).
    let reference = read_rgb("dynamic_conv_33x25.rgb", W, H);
    for format in ALL_FORMATS {
        check_format("dynamic_conv.onnx", "", &reference, format, 1);
    }
}

#[test]
fn channel_swap_is_exact() {
    init();
    let reference = read_rgb("channel_swap_33x25.rgb", W, H);
    for format in [VideoFormat::Rgb, VideoFormat::Bgrx, VideoFormat::Abgr] {
        check_format("channel_swap.onnx", "", &reference, format, 0);
    }
}

#[test]
fn padded_stride_bytes_are_untouched() {
    init();
    let input = read_rgb("input_33x25.rgb", W, H);
    let stride = W * 4 + 12;
    let out = run_one(
        &style("dynamic_conv.onnx", ""),
        VideoFormat::Rgbx,
        W,
        H,
        pack(&input, W, H, VideoFormat::Rgbx, stride),
    );
    let map = out.map_readable().unwrap();
    for y in 0..H {
        assert!(
            map[y * stride + W * 4..(y + 1) * stride]
                .iter()
                .all(|b| *b == 0xEE),
            "row {y}"
        );
    }
}

#[test]
fn strength_blends_original_and_output() {
    init();
    let input = read_rgb("input_33x25.rgb", W, H);
    let styled = read_rgb("dynamic_conv_33x25.rgb", W, H);
    let half: Vec<u8> = input
        .iter()
        .zip(&styled)
        .map(|(a, b)| ((*a as f32 + *b as f32) / 2.0).round() as u8)
        .collect();
    for (strength, expected) in [("0", &input), ("1", &styled), ("0.5", &half)] {
        check_format(
            "dynamic_conv.onnx",
            &format!("strength={strength}"),
            expected,
            VideoFormat::Rgb,
            1,
        );
    }
}

#[test]
fn fixed_size_model_at_its_own_size() {
    init();
    // No metadata in the model: the zoo convention (0-255 in and out) comes from a property.
    let input = read_rgb("input_16x16.rgb", 16, 16);
    let reference = read_rgb("fixed_colour_16x16.rgb", 16, 16);
    let out = run_one(
        &style("fixed_colour.onnx", "input-range=0-255"),
        VideoFormat::Rgb,
        16,
        16,
        pack(&input, 16, 16, VideoFormat::Rgb, 48),
    );
    let (rgb, _) = unpack(
        &out,
        &gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgb, 16, 16)).unwrap(),
    );
    let diff = max_diff(&rgb, &reference);
    assert!(diff <= 1, "max difference {diff}");
}

#[test]
fn fixed_size_model_resizes_to_and_from_the_frame() {
    init();
    // A 64x48 frame of four flat quadrants goes through the 16x16 model. Away from the
    // quadrant borders (where resizing mixes colours) each quadrant must be the model's
    // output for its colour.
    let colours = read_rgb("fixed_colour_flat_in.rgb", 4, 1);
    let expected = read_rgb("fixed_colour_flat_out.rgb", 4, 1);
    let (w, h) = (64, 48);
    let quadrant = |x: usize, y: usize| (x >= w / 2) as usize + 2 * (y >= h / 2) as usize;
    let mut frame = Vec::new();
    for y in 0..h {
        for x in 0..w {
            frame.extend_from_slice(&colours[quadrant(x, y) * 3..][..3]);
        }
    }
    let out = run_one(
        &style("fixed_colour.onnx", "input-range=0-255"),
        VideoFormat::Bgrx,
        w,
        h,
        pack(&frame, w, h, VideoFormat::Bgrx, w * 4),
    );
    let (rgb, _) = unpack(
        &out,
        &gst_video::VideoInfo::from_caps(&caps(VideoFormat::Bgrx, w, h)).unwrap(),
    );
    let margin = 10; // frame pixels; 2.5 model pixels at a 4x scale
    let mut checked = 0;
    for y in 0..h {
        for x in 0..w {
            let near_border = x.abs_diff(w / 2) < margin || y.abs_diff(h / 2) < margin;
            if near_border {
                continue;
            }
            let got = &rgb[(y * w + x) * 3..][..3];
            let want = &expected[quadrant(x, y) * 3..][..3];
            assert!(max_diff(got, want) <= 1, "({x},{y}): {got:?} != {want:?}");
            checked += 1;
        }
    }
    assert!(checked > 1000);
}

#[test]
fn a_model_with_one_fixed_and_one_dynamic_side() {
    init();
    // [1,3,16,W]: the frame is resized to 16 rows, its width kept; output = 1 - input.
    let (w, h) = (40, 30);
    let colour = [30u8, 140, 220];
    let frame: Vec<u8> = colour.iter().copied().cycle().take(w * h * 3).collect();
    let out = run_one(
        &style("inverted_fixed_height.onnx", ""),
        VideoFormat::Rgb,
        w,
        h,
        pack(&frame, w, h, VideoFormat::Rgb, w * 3 + 4),
    );
    let (rgb, _) = unpack(
        &out,
        &gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgb, w, h)).unwrap(),
    );
    for px in rgb.chunks_exact(3) {
        assert_eq!(px, [225, 115, 35]);
    }
}

#[test]
fn whole_pipeline_reads_the_bus() {
    init();
    // The same test frames go to two appsinks, one through the element.
    let launch = format!(
        "videotestsrc num-buffers=3 pattern=smpte ! video/x-raw,format=RGBx,width=64,height=48 ! \
         tee name=t ! queue ! appsink name=original sync=false \
         t. ! queue ! onnxstyletransfer name=st model-file={} ! appsink name=styled sync=false",
        fixture_str("channel_swap.onnx")
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = |name: &str| {
        pipeline
            .by_name(name)
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap()
    };
    let (original, styled) = (sink("original"), sink("styled"));
    pipeline.set_state(gst::State::Playing).unwrap();

    for _ in 0..3 {
        let a = original.pull_sample().unwrap();
        let b = styled.pull_sample().unwrap();
        let a = a.buffer().unwrap().map_readable().unwrap();
        let b = b.buffer().unwrap().map_readable().unwrap();
        for (pa, pb) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
            // channel_swap: R' = B, G' = R, B' = G
            assert_eq!([pb[0], pb[1], pb[2]], [pa[2], pa[0], pa[1]]);
        }
    }

    let bus = pipeline.bus().unwrap();
    let mut provider_message = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(10)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("error: {}", e.error()),
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "autoencoder-provider") {
                    provider_message = Some(s.to_owned());
                }
            }
            _ => {}
        }
    }
    let st = pipeline.by_name("st").unwrap();
    assert_eq!(st.property::<String>("active-provider"), "cpu");
    pipeline.set_state(gst::State::Null).unwrap();

    let s = provider_message.expect("the element reports its provider");
    assert_eq!(s.get::<&str>("active").unwrap(), "cpu");
    // This machine has the CPU build of ONNX Runtime: auto fell back, and says so.
    assert!(s.get::<bool>("fallback").unwrap());
    let skipped = s.get::<&str>("skipped").unwrap();
    assert!(
        skipped.contains("tensorrt:") && skipped.contains("cuda:"),
        "{skipped}"
    );
}

/// A pipeline `videotestsrc ! onnxstyletransfer <props> ! fakesink`.
fn pipeline_with(props: &str) -> gst::Pipeline {
    gst::parse::launch(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=32,height=32 ! \
         onnxstyletransfer {props} ! fakesink"
    ))
    .unwrap()
    .downcast()
    .unwrap()
}

#[test]
fn missing_model_file_is_a_clear_error() {
    init();
    let err = start_error(&pipeline_with("model-file=/nonexistent/style.onnx"));
    assert!(
        err.contains("model file '/nonexistent/style.onnx' does not exist"),
        "{err}"
    );
    let err = start_error(&pipeline_with(""));
    assert!(
        err.contains("no model file set (property 'model-file')"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_onnx_is_a_clear_error() {
    init();
    let path = fixture_str("not_onnx.onnx");
    let err = start_error(&pipeline_with(&format!("model-file={path}")));
    assert!(
        err.contains(&format!("model file '{path}' is not a valid ONNX model")),
        "{err}"
    );
    let dir = fixture_str("");
    let err = start_error(&pipeline_with(&format!("model-file={dir}")));
    assert!(err.contains("is a directory, not an ONNX file"), "{err}");
}

#[test]
fn an_input_that_is_not_nchw_rgb_is_a_clear_error() {
    init();
    let path = fixture_str("two_channel_input.onnx");
    let err = start_error(&pipeline_with(&format!("model-file={path}")));
    assert!(
        err.contains(
            "input 'input' has shape [1,2,?,?]; expected a float tensor [1,3,H,W] (NCHW, 3 \
             colour channels) or [1,1,H,W] (luma)"
        ),
        "{err}"
    );
    // A luma model takes luma, but a style net must give colour.
    let path = fixture_str("gray_input.onnx");
    let err = start_error(&pipeline_with(&format!("model-file={path}")));
    assert!(
        err.contains("is not an image-to-image model: output 'output' is [1,1,?,?]"),
        "{err}"
    );
}

#[test]
fn a_model_whose_output_is_not_an_image_is_a_clear_error() {
    init();
    let path = fixture_str("five_classes.onnx");
    let err = start_error(&pipeline_with(&format!("model-file={path}")));
    assert!(err.contains("is not an image-to-image model"), "{err}");
    assert!(
        err.contains("[1,5,?,?]; expected a float tensor [1,3,H,W]"),
        "{err}"
    );
}

#[test]
fn a_model_declared_for_another_element_is_a_clear_error() {
    init();
    let path = fixture_str("declared_segmentation.onnx");
    let err = start_error(&pipeline_with(&format!("model-file={path}")));
    assert!(
        err.contains("its metadata says kind 'segmentation' (onnxsegmentation runs it)"),
        "{err}"
    );
}

#[test]
fn an_explicit_gpu_provider_without_a_gpu_build_is_a_clear_error() {
    init();
    let model = fixture_str("channel_swap.onnx");
    for provider in ["cuda", "tensorrt"] {
        let err = start_error(&pipeline_with(&format!(
            "model-file={model} execution-provider={provider}"
        )));
        assert!(
            err.contains(&format!(
                "the {provider} execution provider is not in this ONNX Runtime library"
            )),
            "{err}"
        );
    }
}

#[test]
fn malformed_mean_property_names_the_property() {
    init();
    let model = fixture_str("channel_swap.onnx");
    let err = start_error(&pipeline_with(&format!("model-file={model} mean=0.5,0.5")));
    assert!(
        err.contains("property 'mean' must be three comma-separated numbers"),
        "{err}"
    );
    // A zero std set as a property is the property's fault, not the model's.
    let err = start_error(&pipeline_with(&format!("model-file={model} std=0,0,0")));
    assert!(
        err.contains("property 'std' must be three positive numbers; found 0 in [0.0, 0.0, 0.0]"),
        "{err}"
    );
}

#[test]
fn model_properties_are_fixed_while_playing_but_strength_is_live() {
    init();
    let model = fixture_str("channel_swap.onnx");
    let element = gst::ElementFactory::make("onnxstyletransfer")
        .property("model-file", &model)
        .build()
        .unwrap();
    let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps(caps(VideoFormat::Rgb, 4, 4));
    element.set_property("model-file", "/other.onnx");
    assert_eq!(
        element.property::<Option<String>>("model-file").as_deref(),
        Some(model.as_str())
    );
    element.set_property("strength", 0.25f64);
    assert_eq!(element.property::<f64>("strength"), 0.25);
    let input = vec![10u8; 4 * 4 * 3];
    h.push(pack(&input, 4, 4, VideoFormat::Rgb, 12)).unwrap();
    assert!(h.pull().is_ok());
}

#[test]
fn resolution_and_format_change_mid_stream() {
    init();
    // The element reuses its buffers across frames; a new size or format must not mix them.
    let mut h = gst_check::Harness::new_parse(&style("channel_swap.onnx", ""));
    let input = read_rgb("input_33x25.rgb", W, H);
    let reference = read_rgb("channel_swap_33x25.rgb", W, H);
    let small: Vec<u8> = input[..16 * 3].repeat(8); // 16x8, rows all equal to the first
    let small_ref: Vec<u8> = reference[..16 * 3].repeat(8);
    let steps = [
        (VideoFormat::Rgb, W, H, &input, &reference),
        (VideoFormat::Bgrx, 16, 8, &small, &small_ref),
        (VideoFormat::Rgb, W, H, &input, &reference),
    ];
    for (format, w, h_, rgb, expected) in steps {
        h.set_src_caps(caps(format, w, h_));
        let (bpp, _, _) = layout(format);
        h.push(pack(rgb, w, h_, format, w * bpp + 8)).unwrap();
        let out = h.pull().unwrap();
        let info = gst_video::VideoInfo::from_caps(&caps(format, w, h_)).unwrap();
        assert_eq!(&unpack(&out, &info).0, expected, "{format:?} {w}x{h_}");
    }
}

/// A flat frame of one colour, packed RGBx.
fn flat_frame(colour: [u8; 3], width: usize, height: usize) -> gst::Buffer {
    let rgb: Vec<u8> = colour
        .iter()
        .copied()
        .cycle()
        .take(width * height * 3)
        .collect();
    pack(&rgb, width, height, VideoFormat::Rgbx, width * 4)
}

#[test]
fn inference_scale_runs_smaller_and_maps_back() {
    init();
    let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgbx, 64, 48)).unwrap();
    // channel_swap is per pixel: a flat frame stays flat through the down- and up-scaling.
    let out = run_one(
        &style("channel_swap.onnx", "inference-scale=0.25"),
        VideoFormat::Rgbx,
        64,
        48,
        flat_frame([200, 100, 30], 64, 48),
    );
    let (rgb, _) = unpack(&out, &info);
    for px in rgb.chunks_exact(3) {
        assert_eq!(px, [30, 200, 100]);
    }
}

#[test]
fn non_blocking_frames_flow_and_take_the_newest_result() {
    init();
    let mut h = gst_check::Harness::new_parse(&style("channel_swap.onnx", "non-blocking=true"));
    h.set_src_caps(caps(VideoFormat::Rgbx, 64, 48));
    let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgbx, 64, 48)).unwrap();
    // Frames never wait: each comes back at once, unchanged until a result exists, then with
    // the newest result drawn in.
    let mut seen_processed = false;
    for _ in 0..200 {
        h.push(flat_frame([200, 100, 30], 64, 48)).unwrap();
        let (rgb, _) = unpack(&h.pull().unwrap(), &info);
        let px = &rgb[..3];
        assert!(px == [200, 100, 30] || px == [30, 200, 100], "{px:?}");
        if px == [30, 200, 100] {
            assert!(rgb.chunks_exact(3).all(|p| p == [30, 200, 100]));
            seen_processed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(seen_processed, "no result reached a frame within a second");
}

#[test]
fn latency_query_includes_the_inference_time() {
    init();
    let latency = |element: &str| {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc is-live=true ! video/x-raw,format=RGBx,width=320,height=240,framerate=30/1 ! \
             {element} ! fakesink sync=true"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let (result, _, _) = pipeline.state(gst::ClockTime::from_seconds(10));
        result.unwrap();
        let mut query = gst::query::Latency::new();
        assert!(pipeline.query(&mut query));
        pipeline.set_state(gst::State::Null).unwrap();
        query.result().1
    };
    let without = latency("identity");
    let with = latency(&style("dynamic_conv.onnx", ""));
    let with_non_blocking = latency(&style("dynamic_conv.onnx", "non-blocking=true"));
    assert!(with > without, "{with} vs {without}");
    assert_eq!(with_non_blocking, without);
}

#[test]
fn mean_and_std_are_given_in_rgb_order_whatever_the_channel_order() {
    init();
    // BGR tensors, mean 100 on red only: the tensor is [B, G, R - 100]. channel_swap's output
    // channels are its input's (2, 0, 1), read back as B, G, R: B = R - 100, G = B, R = G.
    let out = run_one(
        &style(
            "channel_swap.onnx",
            "input-range=0-255 output-range=0-255 channel-order=bgr mean=100,0,0 std=1,1,1",
        ),
        VideoFormat::Rgbx,
        8,
        4,
        flat_frame([150, 50, 20], 8, 4),
    );
    let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgbx, 8, 4)).unwrap();
    let (rgb, _) = unpack(&out, &info);
    // Were mean in tensor order (B,G,R), blue would lose the 100 instead.
    assert_eq!(&rgb[..3], [50, 20, 50]);
}
