// SPDX-License-Identifier: MIT OR Apache-2.0
//! Property-based fuzzing (proptest) of the code that reads untrusted input: the model metadata
//! parsers, and the frame <-> tensor conversions over random sizes, strides, pixel layouts,
//! model geometries and output values (NaN and infinities included). No input may panic or
//! write outside the frame's pixels; results keep their invariants.
//!
//! CI runs 256 cases per property; a longer run:
//!
//!     PROPTEST_CASES=20000 cargo test --release --test fuzz

use std::collections::HashMap;

use gstautoencoder::inference::anomaly::{ErrorMap, Planes};
use gstautoencoder::inference::model::{
    Dim, InputSpec, ModelDescription, OutputSpec, keys, parse_triplet,
};
use gstautoencoder::inference::segmentation::{BinaryScores, ClassMap, Palette};
use gstautoencoder::inference::{
    DecodedImage, ImageMut, ImageOutput, PixelLayout, Preprocessing, PreprocessingOverrides,
    TensorInput, decode_image,
};
use proptest::prelude::*;

/// Every key of the metadata contract (core::model::keys).
const KEYS: [&str; 12] = [
    keys::INPUT_RANGE,
    keys::OUTPUT_RANGE,
    keys::MEAN,
    keys::STD,
    keys::CHANNEL_ORDER,
    keys::SIZE_MULTIPLE,
    keys::KIND,
    keys::CLASS_NAMES,
    keys::CLASS_COLORS,
    keys::OUTPUT,
    keys::ERROR_SCALE,
    keys::ERROR_SSIM_WEIGHT,
];

/// 256 cases a property unless PROPTEST_CASES says otherwise; a failing case is printed
/// (minimised), not stored in a file.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Metadata values: mostly near-valid (numbers, commas, ranges), sometimes anything at all.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-0-9.,; eEinfa]{0,24}",
        "(0-1|0-255|rgb|bgr|RGB|[0-9]{1,3})",
        any::<String>(),
    ]
}

fn metadata() -> impl Strategy<Value = HashMap<String, String>> {
    proptest::collection::hash_map(
        prop_oneof![
            proptest::sample::select(KEYS.to_vec()).prop_map(String::from),
            any::<String>()
        ],
        value(),
        0..8,
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn metadata_parsing_never_panics_and_keeps_its_invariants(meta in metadata()) {
        match Preprocessing::resolve(&meta, &PreprocessingOverrides::default()) {
            Ok(p) => {
                prop_assert!(p.std.iter().all(|s| *s > 0.0 && s.is_finite()));
                prop_assert!(p.mean.iter().all(|m| m.is_finite()));
                prop_assert!(p.size_multiple >= 1);
            }
            // Every refusal names the key it is about.
            Err(e) => prop_assert!(KEYS.iter().any(|k| e.message().contains(&format!("'{k}'"))), "{}", e),
        }
    }

    #[test]
    fn the_task_contracts_never_panic_and_name_what_they_refuse(
        meta in metadata(),
        shape in proptest::collection::vec(-1i64..6, 0..6),
        is_float in any::<bool>(),
    ) {
        let description = ModelDescription {
            input: InputSpec::validate("input", true, &[1, 3, -1, -1]).unwrap(),
            outputs: vec![OutputSpec { name: "y".into(), is_float, shape }],
            metadata: meta,
        };
        let names_it = |e: &gstautoencoder::inference::Error| {
            e.message().contains("output 'y'") || KEYS.iter().any(|k| e.message().contains(&format!("'{k}'")))
        };
        match description.segmentation() {
            Ok(c) => {
                prop_assert!(is_float);
                let k = description.outputs[0].shape[1];
                prop_assert!(k <= 1 || k as usize == c.class_names.len());
            }
            Err(e) => prop_assert!(names_it(&e), "{}", e),
        }
        match description.anomaly() {
            Ok(c) => {
                prop_assert!(is_float);
                prop_assert!((0.0..=1.0).contains(&c.ssim_weight));
                prop_assert!(c.error_scale.is_none_or(|s| s > 0.0 && s.is_finite()));
            }
            Err(e) => prop_assert!(names_it(&e), "{}", e),
        }
    }

    #[test]
    fn triplets_and_palettes_parse_or_name_their_key(text in value()) {
        if let Ok(t) = parse_triplet("mean", &text) {
            prop_assert!(t.iter().all(|v| v.is_finite()));
        } else {
            prop_assert!(parse_triplet("mean", &text).unwrap_err().message().contains("'mean'"));
        }
        match Palette::parse("class_colors", &text) {
            Ok(p) => prop_assert!(!p.0.is_empty()),
            Err(e) => prop_assert!(e.message().contains("'class_colors'")),
        }
    }
}

/// A frame geometry: size, pixel layout and row padding.
fn frame_shape() -> impl Strategy<Value = (usize, usize, PixelLayout, usize)> {
    let layouts = vec![
        PixelLayout::RGB,
        PixelLayout::BGR,
        PixelLayout::RGBA,
        PixelLayout::BGRA,
        PixelLayout::ARGB,
        PixelLayout::ABGR,
    ];
    (
        1usize..48,
        1usize..40,
        proptest::sample::select(layouts),
        0usize..9,
    )
}

/// A model input: each side fixed (1..40) or dynamic, with a size multiple and a scale.
fn model_shape() -> impl Strategy<Value = (Dim, Dim, usize, f64)> {
    let dim = prop_oneof![Just(Dim::Dynamic), (1usize..40).prop_map(Dim::Fixed)];
    (
        dim.clone(),
        dim,
        1usize..9,
        prop_oneof![Just(1.0), 0.05f64..1.0],
    )
}

/// Output values including NaN, infinities, huge and tiny numbers.
fn output_value() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -0.5f32..1.5,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => any::<f32>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn frame_to_tensor_and_back_stays_inside_the_frame(
        (width, height, layout, padding) in frame_shape(),
        (model_w, model_h, multiple, scale) in model_shape(),
        output_scale in prop_oneof![Just(1usize), Just(2), Just(4)],
        seed in any::<u64>(),
        strength in 0.0f32..=1.0,
        values in proptest::collection::vec(output_value(), 64),
    ) {
        let stride = width * layout.bytes_per_pixel + padding;
        // Deterministic pseudo-random pixels; padding and alpha bytes are 0xAB.
        let mut data = vec![0xABu8; stride * height];
        let mut state = seed | 1;
        for y in 0..height {
            for x in 0..width {
                for offset in layout.rgb_offsets {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    data[y * stride + x * layout.bytes_per_pixel + offset] = state as u8;
                }
            }
        }
        let untouched: Vec<usize> = (0..data.len())
            .filter(|i| {
                let (x, within) = (i % stride, i % stride < width * layout.bytes_per_pixel);
                !within || !layout.rgb_offsets.contains(&(x % layout.bytes_per_pixel))
            })
            .collect();

        let spec = InputSpec { name: "input".into(), channels: 3, height: model_h, width: model_w };
        let pre = Preprocessing { size_multiple: multiple, ..Default::default() };
        let mut input = TensorInput::new(&spec, &pre, scale);
        let tensor_layout = input.layout(width, height);
        let size = tensor_layout.tensor;
        prop_assert!(size.width >= 1 && size.height >= 1);
        let mut tensor = vec![f32::NAN; 3 * size.width * size.height];
        let mut frame = ImageMut { data: &mut data, width, height, stride, layout };
        input.fill(&frame.as_ref(), tensor_layout, &mut tensor).unwrap();
        prop_assert!(tensor.iter().all(|v| (0.0..=1.0).contains(v)));

        // The model's output: the tensor's size times output_scale, any values.
        let (out_w, out_h) = (size.width * output_scale, size.height * output_scale);
        let output: Vec<f32> = (0..3 * out_w * out_h).map(|i| values[i % values.len()]).collect();
        let shape = [1, 3, out_h as i64, out_w as i64];
        let mut decoded = DecodedImage::default();
        decode_image(&shape, &output, 3, tensor_layout, &mut decoded).unwrap();
        ImageOutput::new(&pre).draw(&decoded, &mut frame, strength).unwrap();
        for i in untouched {
            prop_assert_eq!(data[i], 0xAB, "byte {} (not a colour byte) was written", i);
        }

        // A wrong output shape is an error, never a panic.
        let wrong = [1, 3, out_h as i64 + 1, out_w as i64];
        prop_assert!(decode_image(&wrong, &output, 3, tensor_layout, &mut decoded).is_err());
    }

    #[test]
    fn class_maps_take_any_scores_and_shapes(
        k in 1usize..6,
        (w, h) in (1usize..24, 1usize..24),
        (cw, ch) in (1usize..30, 1usize..30),
        values in proptest::collection::vec(output_value(), 1..64),
        logits in any::<bool>(),
        declared_k in -1i64..8,
    ) {
        let scores: Vec<f32> = (0..k * w * h).map(|i| values[i % values.len()]).collect();
        let mut map = ClassMap::default();
        let binary = if logits { BinaryScores::Logit } else { BinaryScores::Probability };
        let shape = [1, declared_k, h as i64, w as i64];
        let fits = declared_k as usize == k && declared_k > 0 && cw <= w && ch <= h;
        let result = map.decide(&shape, &scores, cw, ch, 0.5, binary);
        prop_assert_eq!(result.is_ok(), fits, "{:?}", result);
        if fits {
            prop_assert!(map.ids.iter().all(|id| (*id as usize) < k.max(2)));
        }
    }

    #[test]
    fn error_maps_take_any_reconstruction(
        (w, h) in (1usize..40, 1usize..40),
        (cw, ch) in (1usize..45, 1usize..45),
        values in proptest::collection::vec(output_value(), 1..64),
        ssim_weight in 0.0f32..=1.0,
        error_scale in 0.001f32..10.0,
    ) {
        let input: Vec<f32> = (0..3 * w * h).map(|i| (i % 7) as f32 / 7.0).collect();
        let reconstruction: Vec<f32> = (0..3 * w * h).map(|i| values[i % values.len()]).collect();
        let planes = |values| Planes { values, plane_width: w, plane_height: h, to_unit: [(1.0, 0.0); 3] };
        let mut map = ErrorMap::default();
        let result = map.compute(&planes(&input), &planes(&reconstruction), cw, ch, ssim_weight, error_scale);
        prop_assert_eq!(result.is_ok(), cw <= w && ch <= h);
        if result.is_ok() {
            prop_assert_eq!(map.values.len(), cw * ch);
            // Non-finite reconstructions count as no error: the map stays finite.
            prop_assert!(map.values.iter().all(|e| e.is_finite() && *e >= 0.0));
            let mut scratch = Vec::new();
            prop_assert!(map.score(0.99, &mut scratch).is_finite());
        }
    }
}
