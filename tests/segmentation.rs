// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxsegmentation against references computed here independently of the element: the
//! dominant_channel fixture's class is each pixel's dominant colour channel, the
//! foreground_logit fixture's is whether 8 (R - B) reaches the threshold's logit.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;

const W: usize = 33;
const H: usize = 25;
const COLOURS: [[u8; 3]; 3] = [[250, 20, 20], [20, 250, 20], [20, 20, 250]];

fn segment(model: &str, extra: &str) -> String {
    format!("onnxsegmentation model-file={} {extra}", fixture_str(model))
}

fn fractions_meta(buffer: &gst::BufferRef) -> (Vec<String>, Vec<f64>) {
    let meta = gst::meta::CustomMeta::from_buffer(buffer, "GstAutoencoderSegmentationMeta")
        .expect("the buffer carries the class fractions");
    classes_of(meta.structure())
}

/// The class names and fractions of a meta or a message, from its arrays, after checking that
/// its plain fields (`classes`, `class-<i>-name`, `fraction-<i>`: for bindings that cannot read
/// arrays) say exactly the same, and that there is one name per fraction.
fn classes_of(s: &gst::StructureRef) -> (Vec<String>, Vec<f64>) {
    let names: Vec<String> = s
        .get::<gst::Array>("class-names")
        .unwrap()
        .iter()
        .map(|v| v.get::<String>().unwrap())
        .collect();
    let fractions: Vec<f64> = s
        .get::<gst::Array>("fractions")
        .unwrap()
        .iter()
        .map(|v| v.get::<f64>().unwrap())
        .collect();
    assert_eq!(names.len(), fractions.len(), "{s}");
    assert_eq!(
        s.get::<u32>("classes").unwrap() as usize,
        names.len(),
        "{s}"
    );
    for (i, (name, fraction)) in names.iter().zip(&fractions).enumerate() {
        assert_eq!(&s.get::<String>(format!("class-{i}-name")).unwrap(), name);
        assert_eq!(
            s.get::<f64>(format!("fraction-{i}")).unwrap().to_bits(),
            fraction.to_bits(),
            "class {i}"
        );
    }
    let n = names.len();
    assert!(
        !s.has_field(format!("class-{n}-name").as_str())
            && !s.has_field(format!("fraction-{n}").as_str())
    );
    (names, fractions)
}

#[test]
fn classes_output_is_gray8_class_ids() {
    init();
    let input = read_rgb("input_33x25.rgb", W, H);
    let mut h = gst_check::Harness::new_parse(&segment("dominant_channel.onnx", "output=classes"));
    h.set_src_caps(caps(VideoFormat::Bgrx, W, H));
    h.push(pack(&input, W, H, VideoFormat::Bgrx, W * 4 + 8))
        .unwrap();
    let out = h.pull().unwrap();
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    assert_eq!(
        caps.structure(0).unwrap().get::<&str>("format").unwrap(),
        "GRAY8"
    );
    let expected = dominant(&input);
    assert_eq!(gray8(&out, W, H), expected);

    let (names, fractions) = fractions_meta(&out);
    assert_eq!(names, ["reddish", "greenish", "bluish"]);
    for (c, f) in fractions.iter().enumerate() {
        let count = expected.iter().filter(|id| **id as usize == c).count();
        assert!(
            (f - count as f64 / (W * H) as f64).abs() < 1e-12,
            "class {c}"
        );
    }
}

#[test]
fn overlay_blends_class_colours_and_leaves_the_background() {
    init();
    let input = read_rgb("input_33x25.rgb", W, H);
    let ids = dominant(&input);
    for (extra, alpha, skip_background) in [
        ("alpha=0.4", 0.4f32, true),
        ("alpha=0.75 transparent-background=false", 0.75, false),
        ("output=mask", 1.0, false),
    ] {
        let out = run_one(
            &segment("dominant_channel.onnx", extra),
            VideoFormat::Rgba,
            W,
            H,
            pack(&input, W, H, VideoFormat::Rgba, W * 4),
        );
        let info = gst_video::VideoInfo::from_caps(&caps(VideoFormat::Rgba, W, H)).unwrap();
        let (rgb, alpha_bytes) = unpack(&out, &info);
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            let original = &input[i * 3..i * 3 + 3];
            let expected: Vec<u8> = if skip_background && ids[i] == 0 {
                original.to_vec()
            } else {
                let colour = COLOURS[ids[i] as usize];
                (0..3)
                    .map(|k| {
                        let o = original[k] as f32;
                        (o + (colour[k] as f32 - o) * alpha).round() as u8
                    })
                    .collect()
            };
            assert!(
                max_diff(px, &expected) <= 1,
                "{extra}: pixel {i}: {px:?} != {expected:?}"
            );
        }
        let expected_alpha: Vec<u8> = (0..H)
            .flat_map(|y| (0..W).map(move |x| alpha_of(x, y)))
            .collect();
        assert_eq!(alpha_bytes, expected_alpha, "{extra}: alpha changed");
    }
}

#[test]
fn a_binary_model_uses_the_threshold() {
    init();
    let input = read_rgb("input_33x25.rgb", W, H);
    for threshold in [0.2f32, 0.5, 0.9] {
        let out = run_one(
            &segment(
                "foreground_logit.onnx",
                &format!("output=classes threshold={threshold}"),
            ),
            VideoFormat::Rgb,
            W,
            H,
            pack(&input, W, H, VideoFormat::Rgb, W * 3 + 1),
        );
        let cut = (threshold / (1.0 - threshold)).ln();
        let expected: Vec<u8> = input
            .chunks_exact(3)
            .map(|p| u8::from(8.0 * (p[0] as f32 / 255.0 - p[2] as f32 / 255.0) >= cut))
            .collect();
        let got = gray8(&out, W, H);
        // A pixel whose score equals the cut to within float rounding may fall either way.
        let differing = got.iter().zip(&expected).filter(|(a, b)| a != b).count();
        assert!(
            differing <= 1,
            "threshold {threshold}: {differing} pixels differ"
        );
        assert!(
            got.contains(&1) && got.contains(&0),
            "threshold {threshold}: both classes present"
        );
    }
}

#[test]
fn a_binary_model_without_names_gets_a_name_for_each_of_its_two_classes() {
    init();
    // Left half red (foreground: 8 (R - B) > 0), right half blue (background).
    let (w, h) = (16, 8);
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            if i % w < w / 2 {
                [200, 10, 10]
            } else {
                [10, 10, 200]
            }
        })
        .collect();
    let out = run_one(
        &segment("foreground_logit_unnamed.onnx", "output=classes"),
        VideoFormat::Rgb,
        w,
        h,
        pack(&rgb, w, h, VideoFormat::Rgb, w * 3),
    );
    let (names, fractions) = fractions_meta(&out);
    assert_eq!(names, ["class0", "class1"]);
    assert_eq!(fractions, [0.5, 0.5]);
}

#[test]
fn interval_reuses_the_last_classes_and_messages_carry_the_fractions() {
    init();
    // Frame 1 red, frame 2 blue, frame 3 blue: with interval=2 frame 2 keeps frame 1's classes.
    let red = [200u8, 10, 10].repeat(16 * 8);
    let blue = [10u8, 10, 200].repeat(16 * 8);
    let pipeline_elements = segment(
        "dominant_channel.onnx",
        "output=classes interval=2 post-messages=true",
    );
    let mut h = gst_check::Harness::new_parse(&pipeline_elements);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(caps(VideoFormat::Rgb, 16, 8));
    let mut classes = Vec::new();
    for (i, frame) in [&red, &blue, &blue].into_iter().enumerate() {
        let mut buffer = pack(frame, 16, 8, VideoFormat::Rgb, 48);
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(40 * i as u64));
        h.push(buffer).unwrap();
        classes.push(gray8(&h.pull().unwrap(), 16, 8)[0]);
    }
    assert_eq!(classes, [0, 0, 2]);

    let mut messages = Vec::new();
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Element]) {
        let s = msg.structure().unwrap();
        if s.name() == "autoencoder-segmentation" {
            let (_, fractions) = classes_of(s);
            messages.push((
                s.get::<gst::ClockTime>("timestamp").unwrap().mseconds(),
                fractions,
            ));
        }
    }
    assert_eq!(
        messages,
        [
            (0, vec![1.0, 0.0, 0.0]),
            (40, vec![1.0, 0.0, 0.0]),
            (80, vec![0.0, 0.0, 1.0])
        ]
    );
}

#[test]
fn a_palette_shorter_than_the_classes_is_a_clear_error() {
    init();
    let pipeline: gst::Pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=32,height=32 ! {} ! fakesink",
        segment("dominant_channel.onnx", "palette=\"1,2,3;4,5,6\"")
    ))
    .unwrap()
    .downcast()
    .unwrap();
    let err = start_error(&pipeline);
    assert!(
        err.contains("the palette (property 'palette') has 2 colours for 3 classes"),
        "{err}"
    );
}

#[test]
fn a_model_declared_for_another_element_is_refused() {
    init();
    let pipeline = |model: &str| -> gst::Pipeline {
        gst::parse::launch(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=32,height=32 ! {} ! fakesink",
            segment(model, "")
        ))
        .unwrap()
        .downcast()
        .unwrap()
    };
    let err = start_error(&pipeline("dynamic_conv.onnx"));
    assert!(
        err.contains("its metadata says kind 'style' (onnxstyle runs it)")
            || err.contains("kind 'style'"),
        "{err}"
    );
}

#[test]
fn scores_are_upsampled_bilinearly_before_the_decision() {
    init();
    let (w, h) = (64, 48);
    let input = read_rgb("smooth_64x48.rgb", w, h);
    let classes_at = |model: &str, props: &str| {
        let out = run_one(
            &segment(model, &format!("output=classes {props}")),
            VideoFormat::Rgb,
            w,
            h,
            pack(&input, w, h, VideoFormat::Rgb, w * 3),
        );
        gray8(&out, w, h)
    };
    let differing = |a: &[u8], b: &[u8]| a.iter().zip(b).filter(|(x, y)| x != y).count();
    // The models decide at 16x12; the references are ONNX Runtime's bilinear Resize
    // (half-pixel centres) of their scores to 64x48, then the argmax or the threshold.
    for (model, reference) in [
        ("coarse_classes.onnx", "coarse_classes_64x48.gray"),
        ("coarse_foreground.onnx", "coarse_foreground_64x48.gray"),
    ] {
        let expected = std::fs::read(fixture(reference)).unwrap();
        for props in ["", "non-blocking=true wait-first-result=true"] {
            let got = classes_at(model, props);
            // Scores equal to within float rounding may fall either way.
            assert!(
                differing(&got, &expected) <= 2,
                "{model} {props}: {} of {} pixels differ",
                differing(&got, &expected),
                w * h
            );
        }
        // Deciding at 16x12 and scaling the ids gives the stair-stepped mask this replaces.
        let nearest = classes_at(model, "upsampling=nearest");
        assert!(
            differing(&nearest, &expected) > 50,
            "{model}: nearest differs by only {}",
            differing(&nearest, &expected)
        );
    }
}

/// `onnxsegmentation <props>` on the smooth 64x48 image in `format`: the output's RGB and
/// alpha (empty for formats without).
fn background_of(model: &str, props: &str, format: VideoFormat) -> (Vec<u8>, Vec<u8>) {
    background_of_image(&read_rgb("smooth_64x48.rgb", 64, 48), model, props, format)
}

fn background_of_image(
    input: &[u8],
    model: &str,
    props: &str,
    format: VideoFormat,
) -> (Vec<u8>, Vec<u8>) {
    let (w, h) = (64, 48);
    let out = run_one(
        &segment(model, props),
        format,
        w,
        h,
        pack(input, w, h, format, w * layout(format).0),
    );
    let info = gst_video::VideoInfo::from_caps(&caps(format, w, h)).unwrap();
    unpack(&out, &info)
}

#[test]
fn the_background_is_replaced_blurred_or_cut_out_with_soft_edges() {
    init();
    let (w, h) = (64, 48);
    let input = read_rgb("smooth_64x48.rgb", w, h);
    let weight = std::fs::read(fixture("coarse_foreground_alpha_64x48.gray")).unwrap();
    // References: ONNX Runtime's bilinear Resize of the foreground probability (a sigmoid of
    // the model's logit, 1 - P(class 0) for K classes), as a weight, and the mix it makes.
    let replaced = read_rgb("coarse_foreground_replace_64x48.rgb", w, h);
    let (rgb, _) = background_of(
        "coarse_foreground.onnx",
        "output=replace background-color=0xff102030",
        VideoFormat::Rgb,
    );
    assert!(
        max_diff(&rgb, &replaced) <= 1,
        "replace: max diff {}",
        max_diff(&rgb, &replaced)
    );
    assert!(
        weight.contains(&0)
            && weight.contains(&255)
            && weight.iter().any(|a| (64..192).contains(a))
    );

    for (model, reference) in [
        (
            "coarse_foreground.onnx",
            "coarse_foreground_alpha_64x48.gray",
        ),
        ("coarse_classes.onnx", "coarse_classes_alpha_64x48.gray"),
    ] {
        let expected = std::fs::read(fixture(reference)).unwrap();
        for format in [VideoFormat::Rgba, VideoFormat::Abgr] {
            let (rgb, alpha) = background_of(model, "output=cutout", format);
            assert_eq!(rgb, input, "{model} {format:?}: cut-out keeps the colours");
            assert!(
                max_diff(&alpha, &expected) <= 1,
                "{model} {format:?}: alpha max diff {}",
                max_diff(&alpha, &expected)
            );
        }
    }

    // From a format without alpha, the element converts: RGBA out, the same weights.
    let expected = std::fs::read(fixture("coarse_foreground_alpha_64x48.gray")).unwrap();
    for format in [VideoFormat::Rgb, VideoFormat::Bgrx] {
        let mut harness =
            gst_check::Harness::new_parse(&segment("coarse_foreground.onnx", "output=cutout"));
        harness.set_src_caps(caps(format, w, h));
        harness
            .push(pack(&input, w, h, format, w * layout(format).0))
            .unwrap();
        let out = harness.pull().unwrap();
        let out_caps = harness.sinkpad().unwrap().current_caps().unwrap();
        let info = gst_video::VideoInfo::from_caps(&out_caps).unwrap();
        assert!(info.has_alpha(), "{format:?} in: {out_caps}");
        let (rgb, alpha) = unpack(&out, &info);
        assert_eq!(rgb, input, "{format:?}: the colours are the input's");
        assert!(
            max_diff(&alpha, &expected) <= 1,
            "{format:?}: alpha max diff {}",
            max_diff(&alpha, &expected)
        );
    }

    // Blur: the person's pixels stay, the background's are the frame smoothed. A +-16
    // checkerboard over the image gives it detail to lose, and leaves the model's 4x4 pools,
    // so its foreground, as they were.
    let input: Vec<u8> = input
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (x, y) = (i / 3 % w, i / 3 / w);
            if (x + y) % 2 == 0 { v + 16 } else { v - 16 }
        })
        .collect();
    let (blurred, _) = background_of_image(
        &input,
        "coarse_foreground.onnx",
        "output=blur blur-strength=8",
        VideoFormat::Rgb,
    );
    // Roughness: the mean second difference along rows (a blur flattens it; a smooth
    // ramp has little, noise much).
    let roughness = |rgb: &[u8], keep: &dyn Fn(usize) -> bool| -> f64 {
        let pixels: Vec<usize> = (1..w * h - 1)
            .filter(|&i| i % w > 0 && i % w + 1 < w && keep(i - 1) && keep(i) && keep(i + 1))
            .collect();
        let second = |i: usize, k: usize| {
            (f64::from(rgb[3 * (i - 1) + k]) - 2.0 * f64::from(rgb[3 * i + k])
                + f64::from(rgb[3 * (i + 1) + k]))
            .abs()
        };
        pixels
            .iter()
            .map(|&i| (0..3).map(|k| second(i, k)).sum::<f64>())
            .sum::<f64>()
            / pixels.len().max(1) as f64
    };
    for i in 0..w * h {
        if weight[i] == 255 {
            assert_eq!(
                blurred[3 * i..3 * i + 3],
                input[3 * i..3 * i + 3],
                "pixel {i} is the person's"
            );
        }
    }
    let background = |i: usize| weight[i] == 0;
    assert!(
        roughness(&blurred, &background) < 0.5 * roughness(&input, &background),
        "blurred background {:.2} against {:.2}",
        roughness(&blurred, &background),
        roughness(&input, &background)
    );

    // A picture behind: a flat one stays flat whatever its size.
    let dir = std::env::temp_dir().join(format!("ae-background-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let picture = dir.join("flat.png");
    image::RgbImage::from_pixel(20, 10, image::Rgb([10, 200, 30]))
        .save(&picture)
        .unwrap();
    let (rgb, _) = background_of(
        "coarse_foreground.onnx",
        &format!("output=replace background-image={}", picture.display()),
        VideoFormat::Bgrx,
    );
    for i in (0..w * h).filter(|&i| weight[i] == 0) {
        assert_eq!(rgb[3 * i..3 * i + 3], [10, 200, 30], "background pixel {i}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_background_picture_that_cannot_be_read_is_a_start_error() {
    init();
    let error_with_picture = |picture: &str| {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=32,height=32 ! {} ! \
             fakesink",
            segment(
                "coarse_foreground.onnx",
                &format!("output=replace background-image={picture}")
            )
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        start_error(&pipeline)
    };
    let message = error_with_picture("/nonexistent/sky.png");
    assert!(
        message.starts_with("background picture '/nonexistent/sky.png': No such file or directory"),
        "{message}"
    );
    let message = error_with_picture(&fixture_str("not_onnx.onnx"));
    assert!(
        message.contains("cannot be decoded (PNG and JPEG are read)"),
        "{message}"
    );
}
