// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxmap against references computed independently in Python
//! (tests/fixtures/make_map_fixtures.py): the raw maps by ONNX Runtime's Python API on
//! `smooth_64x48.rgb`, the percentiles by numpy, the half-resolution map brought to the frame
//! by ONNX Runtime's bilinear `Resize` (half_pixel), and the colours from matplotlib's tables.
//! `map_references.json` lists each case: the element's properties, the expected output and
//! the range it must have used.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;
use gst_video::prelude::*;

/// The element's colours (tables of 1024 steps from the `colorous` crate) against matplotlib's
/// (256-entry tables, interpolated linearly), in levels per channel: the colour map is the one
/// its name says. Measured on these fixtures: turbo 32, viridis 2, inferno 1, magma 2, plasma
/// 1, gray 1. colorous's turbo is d3's polynomial approximation of Google's table (matplotlib
/// has the table), off by up to 32 levels in the dark blue and dark red ends; its other maps are
/// B-splines through matplotlib's tables.
fn matplotlib_tolerance(colormap: &str) -> u8 {
    match colormap {
        "turbo" => 32,
        _ => 2,
    }
}

/// The element's colours against colorous evaluated at the Python-normalised value: the range,
/// the normalisation and the drawing are exact but for the table's step (1/1023).
const COLOROUS_TOLERANCE: u8 = 2;
/// GRAY16 levels against numpy's normalisation (float32 against float64 arithmetic).
const GRAY16_TOLERANCE: u16 = 1;
/// GRAY16 levels of the upsampled half-resolution map against ONNX Runtime's `Resize`.
const UPSAMPLED_TOLERANCE: u16 = 2;

fn references() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("map_references.json")).unwrap()).unwrap()
}

/// The reference case whose expected output file is `stem`_64x48.*.
fn case(stem: &str) -> serde_json::Value {
    let refs = references();
    refs["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["expected"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{stem}_64x48."))
        })
        .unwrap_or_else(|| panic!("no case {stem}"))
        .clone()
}

const W: usize = 64;
const H: usize = 48;

fn input() -> Vec<u8> {
    read_rgb("smooth_64x48.rgb", W, H)
}

fn read_f32(name: &str) -> Vec<f32> {
    std::fs::read(fixture(name))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn read_u16(name: &str) -> Vec<u16> {
    std::fs::read(fixture(name))
        .unwrap()
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// The GRAY16_LE plane of `buffer` without row padding.
fn gray16(buffer: &gst::BufferRef) -> Vec<u16> {
    let info = gst_video::VideoInfo::builder(VideoFormat::Gray16Le, W as u32, H as u32)
        .build()
        .unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).unwrap();
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap();
    (0..H)
        .flat_map(|y| data[y * stride..y * stride + W * 2].chunks_exact(2))
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// The meta's fields: (min, max, low, high, meaning, inverted).
fn meta(buffer: &gst::BufferRef) -> (f64, f64, f64, f64, String, bool) {
    let meta = gst::meta::CustomMeta::from_buffer(buffer, "GstAutoencoderMapMeta")
        .expect("the buffer carries the map meta");
    let s = meta.structure();
    (
        s.get("min").unwrap(),
        s.get("max").unwrap(),
        s.get("low").unwrap(),
        s.get("high").unwrap(),
        s.get("meaning").unwrap(),
        s.get("inverted").unwrap(),
    )
}

fn launch(model: &str, props: &str) -> String {
    format!("onnxmap model-file={} {props}", fixture_str(model))
}

/// Runs case `stem` on `input()` packed as `format` (rows `pad` bytes longer than needed),
/// checks the meta against the Python figures, and returns the output buffer.
fn run_case(stem: &str, format: VideoFormat, pad: usize) -> gst::Buffer {
    init();
    let case = case(stem);
    let model = case["model"].as_str().unwrap();
    let (bpp, _, _) = layout(format);
    let out = run_one(
        &launch(model, case["props"].as_str().unwrap()),
        format,
        W,
        H,
        pack(&input(), W, H, format, W * bpp + pad),
    );
    let refs = references();
    let map = &refs["maps"][model];
    let (min, max, low, high, _, inverted) = meta(&out);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1.0);
    assert!(
        close(min, map["min"].as_f64().unwrap()) && close(max, map["max"].as_f64().unwrap()),
        "{stem}: meta min/max {min} {max}, Python {map}"
    );
    assert!(
        close(low, case["low"].as_f64().unwrap()) && close(high, case["high"].as_f64().unwrap()),
        "{stem}: meta low/high {low} {high}, Python {case}"
    );
    assert_eq!(inverted, case["inverted"].as_bool().unwrap(), "{stem}");
    out
}

/// What case `stem`'s RGB output must be with colorous's colour map at the Python-normalised
/// raw map (blended over the input for an overlay).
fn colorous_reference(stem: &str) -> Vec<u8> {
    let case = case(stem);
    let refs = references();
    let raw = read_f32(
        refs["maps"][case["model"].as_str().unwrap()]["raw"]
            .as_str()
            .unwrap(),
    );
    let (low, high) = (
        case["low"].as_f64().unwrap(),
        case["high"].as_f64().unwrap(),
    );
    let invert = case["inverted"].as_bool().unwrap();
    let gradient = match case["colormap"].as_str().unwrap() {
        "turbo" => Some(colorous::TURBO),
        "viridis" => Some(colorous::VIRIDIS),
        "inferno" => Some(colorous::INFERNO),
        "magma" => Some(colorous::MAGMA),
        "plasma" => Some(colorous::PLASMA),
        _ => None,
    };
    let opacity = case["opacity"].as_f64().unwrap_or(1.0);
    let input = input();
    raw.iter()
        .zip(input.chunks_exact(3))
        .flat_map(|(v, original)| {
            let t = ((f64::from(*v) - low) / (high - low)).clamp(0.0, 1.0);
            let t = if v.is_nan() {
                0.0
            } else if invert {
                1.0 - t
            } else {
                t
            };
            let colour = match gradient {
                Some(g) => {
                    let c = g.eval_continuous(t);
                    [c.r, c.g, c.b]
                }
                None => [(t * 255.0).round() as u8; 3],
            };
            (0..3).map(move |k| {
                let mixed =
                    f64::from(original[k]) * (1.0 - opacity) + f64::from(colour[k]) * opacity;
                mixed.round() as u8
            })
        })
        .collect()
}

/// Case `stem`'s RGB output against matplotlib's colours and against colorous's: the largest
/// level differences.
fn colour_difference(stem: &str, format: VideoFormat, pad: usize) -> (u8, u8) {
    let out = run_case(stem, format, pad);
    let info = gst_video::VideoInfo::from_caps(&caps(format, W, H)).unwrap();
    let (rgb, alpha) = unpack(&out, &info);
    if layout(format).2.is_some() {
        let expected: Vec<u8> = (0..H)
            .flat_map(|y| (0..W).map(move |x| alpha_of(x, y)))
            .collect();
        assert_eq!(alpha, expected, "{stem}: alpha or padding bytes changed");
    }
    let expected = read_rgb(&format!("{stem}_64x48.rgb"), W, H);
    (
        max_diff(&rgb, &expected),
        max_diff(&rgb, &colorous_reference(stem)),
    )
}

/// Checks case `stem`'s RGB output against both references (`extra` levels more for blending).
fn check_colours(stem: &str, format: VideoFormat, pad: usize, extra: u8) {
    let (matplotlib, colorous) = colour_difference(stem, format, pad);
    let colormap = case(stem)["colormap"].as_str().unwrap().to_owned();
    println!("{stem}: max difference from matplotlib {matplotlib}, from colorous {colorous}");
    assert!(
        matplotlib <= matplotlib_tolerance(&colormap) + extra,
        "{stem}: {matplotlib} levels from matplotlib's {colormap}"
    );
    assert!(
        colorous <= COLOROUS_TOLERANCE + extra,
        "{stem}: {colorous} levels from colorous's {colormap}"
    );
}

/// Case `stem`'s GRAY16 output against its reference: returns the largest level difference.
fn gray16_difference(stem: &str) -> u16 {
    let out = run_case(stem, VideoFormat::Rgbx, 8);
    let expected = read_u16(&format!("{stem}_64x48.gray16"));
    gray16(&out)
        .iter()
        .zip(&expected)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap()
}

#[test]
fn the_colour_map_replaces_the_frame_for_every_normalization() {
    for (stem, format, pad) in [
        ("map_gradient_turbo", VideoFormat::Rgb, 0),
        ("map_gradient_viridis_fixed", VideoFormat::Bgrx, 12),
        ("map_gradient_inferno_percentile", VideoFormat::Xrgb, 0),
        ("map_gradient_magma_invert", VideoFormat::Abgr, 4),
        ("map_gradient_gray_range", VideoFormat::Bgr, 3),
    ] {
        check_colours(stem, format, pad, 0);
    }
}

#[test]
fn overlay_blends_the_colour_map_over_the_frame_with_opacity() {
    // The references blend at 0.4 in float; the element blends in 1/256ths, within a level.
    check_colours("map_gradient_overlay", VideoFormat::Rgba, 0, 1);
}

#[test]
fn gray16_output_is_the_normalised_value() {
    for stem in ["map_gradient", "map_gradient_percentile_invert"] {
        let diff = gray16_difference(stem);
        assert!(diff <= GRAY16_TOLERANCE, "{stem}: {diff} levels");
    }
    // The source pad is GRAY16_LE.
    let mut h = gst_check::Harness::new_parse(&launch("map_gradient.onnx", "output=gray16"));
    h.set_src_caps(caps(VideoFormat::Rgb, W, H));
    h.push(pack(&input(), W, H, VideoFormat::Rgb, W * 3))
        .unwrap();
    h.pull().unwrap();
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    assert_eq!(
        caps.structure(0).unwrap().get::<&str>("format").unwrap(),
        "GRAY16_LE"
    );
}

#[test]
fn a_depth_model_whose_near_end_is_low_is_drawn_inverted_unless_invert_says_otherwise() {
    // map_depth_low is map_gradient's graph with map_near=low and map_meaning=depth.
    for stem in ["map_depth_low_plasma", "map_depth_low_plasma_invert"] {
        check_colours(stem, VideoFormat::Rgb, 0, 0);
    }
    let out = run_case("map_depth_low_plasma", VideoFormat::Rgb, 0);
    let (_, _, _, _, meaning, inverted) = meta(&out);
    assert_eq!((meaning.as_str(), inverted), ("depth", true));
    let out = run_case("map_gradient_turbo", VideoFormat::Rgb, 0);
    let (_, _, _, _, meaning, inverted) = meta(&out);
    assert_eq!((meaning.as_str(), inverted), ("test gradient", false));
}

#[test]
fn a_half_resolution_map_is_upsampled_bilinearly_with_half_pixel_centres() {
    // map_half: a 2x2 average pool, a 32x24 map for 64x48 frames. Fixed range 0..1, so the
    // GRAY16 level is the upsampled value x 65535: compared with ONNX Runtime's Resize.
    let out = run_case("map_half", VideoFormat::Rgbx, 8);
    let got = gray16(&out);
    let resized = read_f32("map_half_upsampled_64x48.f32");
    let worst = got
        .iter()
        .zip(&resized)
        .map(|(g, r)| (f64::from(*g) - f64::from(*r) * 65535.0).abs())
        .fold(0.0, f64::max);
    assert!(worst <= f64::from(UPSAMPLED_TOLERANCE), "{worst} levels");
    assert!(gray16_difference("map_half") <= UPSAMPLED_TOLERANCE);
    // Not a nearest-neighbour copy: neighbours within a 2x2 block differ.
    assert!(got.chunks_exact(2).any(|pair| pair[0] != pair[1]));
    // The meta's range is the 32x24 map's.
    let raw = read_f32("map_half_32x24.f32");
    let (min, max, ..) = meta(&out);
    let raw_min = raw.iter().copied().fold(f32::INFINITY, f32::min);
    let raw_max = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let close = |a: f64, b: f32| (a - f64::from(b)).abs() < 1e-6;
    assert!(close(min, raw_min) && close(max, raw_max), "{min} {max}");
}

#[test]
fn non_finite_values_are_left_out_of_the_range_and_drawn_at_the_low_end() {
    // map_sqrt: sqrt(gray - 0.45), NaN on 1340 of the 3072 pixels (infinities are unit-tested
    // in src/inference/map.rs: both become NaN when the output is read).
    let raw = read_f32("map_sqrt_64x48.f32");
    let non_finite: Vec<bool> = raw.iter().map(|v| !v.is_finite()).collect();
    assert_eq!(non_finite.iter().filter(|n| **n).count(), 1340);
    check_colours("map_sqrt_turbo", VideoFormat::Rgb, 0, 0);
    let out = run_case("map_sqrt_turbo", VideoFormat::Rgb, 0);
    let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgb, W, H)).unwrap();
    let (rgb, _) = unpack(&out, &info);
    let low_end = colorous::TURBO.eval_continuous(0.0);
    for (px, _) in rgb.chunks_exact(3).zip(&non_finite).filter(|(_, n)| **n) {
        assert_eq!(px, [low_end.r, low_end.g, low_end.b]);
    }
    // GRAY16, inverted: 0 where the model gave nothing, whatever invert says.
    assert!(gray16_difference("map_sqrt_invert") <= GRAY16_TOLERANCE);
    let out = run_case("map_sqrt_invert", VideoFormat::Rgbx, 8);
    let levels = gray16(&out);
    assert!(levels.iter().zip(&non_finite).all(|(l, n)| !n || *l == 0));
}

#[test]
fn live_settings_change_the_next_frame() {
    init();
    let flow = Flow::new(
        &launch("map_gradient.onnx", "name=e"),
        &caps(VideoFormat::Rgb, W, H),
    );
    let frame = || pack(&input(), W, H, VideoFormat::Rgb, W * 3);
    let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgb, W, H)).unwrap();
    let turbo = read_rgb("map_gradient_turbo_64x48.rgb", W, H);
    assert!(max_diff(&unpack(&flow.process(frame()), &info).0, &turbo) <= 32);
    // The fixed range defaults to the model's map_range once started.
    let e = flow.element("e");
    assert_eq!(e.property::<f64>("range-min"), -0.25);
    assert_eq!(e.property::<f64>("range-max"), 1.25);
    e.set_property_from_str("colormap", "gray");
    e.set_property_from_str("normalization", "fixed");
    e.set_property("range-min", 0.2);
    e.set_property("range-max", 0.8);
    let gray = read_rgb("map_gradient_gray_range_64x48.rgb", W, H);
    let out = flow.process(frame());
    assert!(max_diff(&unpack(&out, &info).0, &gray) <= 1);
    assert_eq!(meta(&out).2, 0.2f32 as f64);
    // output changes the caps: only in READY (the setting is refused while playing).
    e.set_property_from_str("output", "gray16");
    assert_eq!(
        e.property_value("output")
            .get::<gstautoencoder::map::Output>(),
        Ok(gstautoencoder::map::Output::Colormap)
    );
    assert!(flow.errors().is_empty(), "{:?}", flow.errors());
}

#[test]
fn range_smoothing_carries_the_previous_frames_range_into_the_next() {
    init();
    // smooth_64x48, then its negative (another range): with range-smoothing=0.75 the second is
    // drawn over 0.75 x the first's range + 0.25 x its own; its min and max stay its own.
    let first = input();
    let second: Vec<u8> = first.iter().map(|p| 255 - p).collect();
    let flow = Flow::new(
        &launch("map_gradient.onnx", "range-smoothing=0.75"),
        &caps(VideoFormat::Rgb, W, H),
    );
    let (a_min, a_max, a_low, a_high, ..) =
        meta(&flow.process(pack(&first, W, H, VideoFormat::Rgb, W * 3)));
    assert_eq!(
        (a_low, a_high),
        (a_min, a_max),
        "the first frame is its own"
    );
    let (b_min, b_max, b_low, b_high, ..) =
        meta(&flow.process(pack(&second, W, H, VideoFormat::Rgb, W * 3)));
    assert!(b_min != a_min && b_max != a_max);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-5;
    assert!(
        close(b_low, 0.75 * a_min + 0.25 * b_min) && close(b_high, 0.75 * a_max + 0.25 * b_max),
        "{b_low} {b_high}"
    );
}

#[test]
fn the_fixed_range_follows_the_model_until_set() {
    init();
    let e = gst::ElementFactory::make("onnxmap").build().unwrap();
    assert_eq!(
        (
            e.property::<f64>("range-min"),
            e.property::<f64>("range-max")
        ),
        (0.0, 1.0),
        "0..1 before a model says otherwise"
    );
    e.set_property("range-max", 4.0);
    assert_eq!(e.property::<f64>("range-max"), 4.0);
}

/// The error `onnxmap` with `model` posts when it starts.
fn start_error_of(element: &str, model: &str) -> String {
    init();
    let pipeline: gst::Pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=32,height=32 ! \
         {element} model-file={} ! fakesink",
        fixture_str(model)
    ))
    .unwrap()
    .downcast()
    .unwrap();
    start_error(&pipeline)
}

#[test]
fn a_model_whose_output_is_not_one_channel_is_refused_at_start() {
    let err = start_error_of("onnxmap", "map_three_channels.onnx");
    let expected = format!(
        "model '{}' is not a one-channel map model: its output 'map' has shape [1,3,?,?]; \
         expected a float tensor [1,1,H,W] or [1,H,W]",
        fixture_str("map_three_channels.onnx")
    );
    assert!(err.starts_with(&expected), "{err}");
    // A channel count the model leaves open, 3 at run time: the start probe refuses it.
    let err = start_error_of("onnxmap", "map_dynamic_channels.onnx");
    assert!(
        err.contains("the model returned a map of shape [1,3,73,97]; expected one channel"),
        "{err}"
    );
}

#[test]
fn malformed_map_metadata_and_other_kinds_are_refused_at_start() {
    let err = start_error_of("onnxmap", "map_bad_range.onnx");
    assert!(
        err.contains(&format!(
            "model '{}': metadata key 'map_range' is '1,0'; expected two finite numbers \
             'low,high' with low < high",
            fixture_str("map_bad_range.onnx")
        )),
        "{err}"
    );
    let err = start_error_of("onnxmap", "dynamic_conv.onnx");
    assert!(
        err.contains("its metadata says kind 'style' (onnxstyletransfer runs it)"),
        "{err}"
    );
    let err = start_error_of("onnxsegmentation", "map_gradient.onnx");
    assert!(
        err.contains("its metadata says kind 'map' (onnxmap runs it)"),
        "{err}"
    );
}

#[test]
fn inspect_finds_it_as_a_depth_analyzer() {
    init();
    let factory = gst::ElementFactory::find("onnxmap").unwrap();
    assert_eq!(factory.metadata("klass"), Some("Filter/Analyzer/Video"));
    let long_name = factory.metadata("long-name").unwrap();
    assert!(long_name.to_lowercase().contains("depth"), "{long_name}");
}
