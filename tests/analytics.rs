// SPDX-License-Identifier: MIT OR Apache-2.0
//! GStreamer >= 1.26 only (`--features v1_26`; scripts/test-gst126.sh runs it in a Debian 13
//! root): the standard analytics metas the analysis elements attach next to their custom metas,
//! read back through GStreamer's analytics library and checked against the custom meta and
//! against references computed here (each pixel's dominant colour channel for the
//! dominant_channel fixture; the anomaly fixture's bright square).
#![cfg(feature = "v1_26")]

mod common;

use common::*;
use gst::glib;
use gst_analytics::{
    AnalyticsClassificationMtd, AnalyticsMetaRefExt, AnalyticsMtd, AnalyticsODMtd,
    AnalyticsRelationMeta, AnalyticsRelationMetaODExt, RelTypes, TensorDataType, TensorDimOrder,
    TensorMeta, ffi,
};
use gst_video::VideoFormat;

const W: usize = 33;
const H: usize = 25;

/// GstAnalyticsSegmentationMtd, known to the Rust crate only through its -sys functions.
enum SegmentationMtd {}

// SAFETY: GStreamer's own type id for segmentation data.
unsafe impl AnalyticsMtd for SegmentationMtd {
    fn mtd_type() -> ffi::GstAnalyticsMtdType {
        // SAFETY: returns the address of a static.
        unsafe { ffi::gst_analytics_segmentation_mtd_get_mtd_type() }
    }
}

/// What a SegmentationMtd holds: the mask's location and its pixels (read through its
/// VideoMeta), and the region ids by index.
struct Segmentation {
    id: u32,
    location: (i32, i32, u32, u32),
    mask_format: VideoFormat,
    mask_size: (u32, u32),
    mask: Vec<u8>,
    region_ids: Vec<u32>,
}

fn read_segmentation(meta: &gst::MetaRef<AnalyticsRelationMeta>, id: u32) -> Segmentation {
    let handle = ffi::GstAnalyticsSegmentationMtd {
        id,
        // SAFETY: the meta outlives `handle`, which the getters below only read through.
        meta: unsafe { meta.as_mut_ptr() },
    };
    let (mut x, mut y, mut w, mut h) = (0, 0, 0, 0);
    // SAFETY: `handle` names a SegmentationMtd of this meta (found by its type); the mask is
    // returned with a reference of its own (transfer full), which `from_glib_full` takes.
    let mask: gst::Buffer = unsafe {
        glib::translate::from_glib_full(ffi::gst_analytics_segmentation_mtd_get_mask(
            &handle, &mut x, &mut y, &mut w, &mut h,
        ))
    };
    // SAFETY: as above; indices below the count.
    let region_ids = unsafe {
        let count = ffi::gst_analytics_segmentation_mtd_get_region_count(&handle);
        (0..count)
            .map(|i| ffi::gst_analytics_segmentation_mtd_get_region_id(&handle, i))
            .collect()
    };
    let vmeta = mask
        .meta::<gst_video::VideoMeta>()
        .expect("the mask has a VideoMeta");
    let (mw, mh) = (vmeta.width(), vmeta.height());
    let (offset, stride) = (vmeta.offset()[0], vmeta.stride()[0] as usize);
    let map = mask.map_readable().unwrap();
    let pixels = (0..mh as usize)
        .flat_map(|row| {
            let start = offset + row * stride;
            map[start..start + mw as usize].to_vec()
        })
        .collect();
    Segmentation {
        id,
        location: (x, y, w, h),
        mask_format: vmeta.format(),
        mask_size: (mw, mh),
        mask: pixels,
        region_ids,
    }
}

/// The custom meta's class names and fractions.
fn custom_fractions(buffer: &gst::BufferRef) -> (Vec<String>, Vec<f64>) {
    let meta = gst::meta::CustomMeta::from_buffer(buffer, "GstAutoencoderSegmentationMeta")
        .expect("the custom meta is still there");
    let s = meta.structure();
    let names = s.get::<gst::Array>("class-names").unwrap();
    let fractions = s.get::<gst::Array>("fractions").unwrap();
    (
        names.iter().map(|v| v.get::<String>().unwrap()).collect(),
        fractions.iter().map(|v| v.get::<f64>().unwrap()).collect(),
    )
}

/// The classes of a ClsMtd: (name, confidence level) by index.
fn classes(mtd: &gst_analytics::AnalyticsMtdRef<AnalyticsClassificationMtd>) -> Vec<(String, f32)> {
    (0..mtd.len())
        .map(|i| (mtd.quark(i).as_str().to_string(), mtd.level(i)))
        .collect()
}

/// Checks one onnxsegmentation output buffer: one SegmentationMtd whose mask is `expected`
/// (class ids) over the whole frame, one ClsMtd with the custom meta's names and fractions,
/// related N-to-N.
fn check_segmentation(out: &gst::BufferRef, expected: &[u8], what: &str) {
    let meta = out
        .meta::<AnalyticsRelationMeta>()
        .unwrap_or_else(|| panic!("{what}: no GstAnalyticsRelationMeta"));
    let segs: Vec<u32> = meta.iter::<SegmentationMtd>().map(|m| m.id()).collect();
    let cls: Vec<_> = meta.iter::<AnalyticsClassificationMtd>().collect();
    assert_eq!((segs.len(), cls.len()), (1, 1), "{what}: one of each");
    let seg = read_segmentation(&meta, segs[0]);

    assert_eq!(seg.mask_format, VideoFormat::Gray8, "{what}");
    assert_eq!(seg.mask_size, (W as u32, H as u32), "{what}");
    assert_eq!(seg.location, (0, 0, W as u32, H as u32), "{what}");
    assert_eq!(seg.mask, expected, "{what}: mask");

    let (names, fractions) = custom_fractions(out);
    let got = classes(&cls[0]);
    assert_eq!(got.len(), names.len(), "{what}");
    assert_eq!(seg.region_ids, (0..names.len() as u32).collect::<Vec<_>>());
    for (c, ((name, level), (custom_name, fraction))) in
        got.iter().zip(names.iter().zip(&fractions)).enumerate()
    {
        assert_eq!(name, custom_name, "{what}: class {c}");
        assert_eq!(*level, *fraction as f32, "{what}: class {c}");
        let count = expected.iter().filter(|id| **id as usize == c).count();
        assert!(
            (*level - count as f32 / (W * H) as f32).abs() < 1e-6,
            "{what}: class {c}: level {level}, {count} pixels"
        );
    }
    assert_eq!(
        meta.relation(seg.id, cls[0].id()),
        RelTypes::N_TO_N,
        "{what}: mask and classes related"
    );
}

#[test]
fn segmentation_mask_and_classes_match_the_custom_meta_and_the_reference() {
    init();
    let input = read_rgb("input_33x25.rgb", W, H);
    let expected = dominant(&input);
    let model = fixture_str("dominant_channel.onnx");
    for (extra, format) in [
        ("output=overlay", VideoFormat::Rgba),    // in place
        ("output=classes", VideoFormat::Bgrx),    // into a GRAY8 buffer
        ("output=cutout", VideoFormat::Rgb),      // into an alpha buffer
        ("upsampling=nearest", VideoFormat::Rgb), // decided at model size
    ] {
        let out = run_one(
            &format!("onnxsegmentation model-file={model} {extra}"),
            format,
            W,
            H,
            pack(&input, W, H, format, W * 4 + 8),
        );
        check_segmentation(&out, &expected, extra);
    }
}

#[test]
fn a_binary_model_has_two_regions_and_the_classes_output_as_mask() {
    init();
    let input = read_rgb("input_33x25.rgb", W, H);
    let out = run_one(
        &format!(
            "onnxsegmentation model-file={} output=classes",
            fixture_str("foreground_logit.onnx")
        ),
        VideoFormat::Rgb,
        W,
        H,
        pack(&input, W, H, VideoFormat::Rgb, W * 3 + 1),
    );
    let ids = gray8(&out, W, H);
    assert!(ids.contains(&0) && ids.contains(&1), "both classes present");
    check_segmentation(&out, &ids, "binary");
}

#[test]
fn the_metas_join_a_relation_meta_already_on_the_buffer() {
    init();
    let input = read_rgb("input_33x25.rgb", W, H);
    let mut buffer = pack(&input, W, H, VideoFormat::Rgba, W * 4);
    let detection = {
        let mut meta = AnalyticsRelationMeta::add(buffer.get_mut().unwrap());
        meta.add_od_mtd(glib::Quark::from_str("upstream"), 1, 2, 3, 4, 0.5)
            .unwrap()
            .id()
    };
    let out = run_one(
        &format!(
            "onnxsegmentation model-file={}",
            fixture_str("dominant_channel.onnx")
        ),
        VideoFormat::Rgba,
        W,
        H,
        buffer,
    );
    assert_eq!(out.iter_meta::<AnalyticsRelationMeta>().count(), 1);
    let meta = out.meta::<AnalyticsRelationMeta>().unwrap();
    let od: Vec<_> = meta.iter::<AnalyticsODMtd>().collect();
    assert_eq!(od.len(), 1);
    assert_eq!(od[0].id(), detection);
    assert_eq!(od[0].obj_type(), Some(glib::Quark::from_str("upstream")));
    check_segmentation(&out, &dominant(&input), "after an upstream detection");
}

#[test]
fn anomaly_decision_and_score_as_a_classification() {
    init();
    // clipped_reconstruction: the bright square is anomalous (tests/anomaly.rs has the maths).
    let (w, h) = (48, 40);
    let frame = |square: bool| {
        let mut rgb = vec![80u8; w * h * 3];
        if square {
            for y in 12..26 {
                rgb[(y * w + 16) * 3..(y * w + 30) * 3].fill(230);
            }
        }
        rgb
    };
    let mut harness = gst_check::Harness::new_parse(&format!(
        "onnxanomaly model-file={} threshold=2",
        fixture_str("clipped_reconstruction.onnx")
    ));
    harness.set_src_caps(caps(VideoFormat::Bgrx, w, h));
    for square in [false, true, false] {
        harness
            .push(pack(&frame(square), w, h, VideoFormat::Bgrx, w * 4))
            .unwrap();
        let out = harness.pull().unwrap();
        let custom = gst::meta::CustomMeta::from_buffer(&out, "GstAutoencoderAnomalyMeta")
            .expect("the custom meta is still there");
        let score = custom.structure().get::<f64>("score").unwrap();
        let anomalous = custom.structure().get::<bool>("anomalous").unwrap();
        assert_eq!(anomalous, square, "score {score}");

        let meta = out
            .meta::<AnalyticsRelationMeta>()
            .expect("a relation meta");
        let cls: Vec<_> = meta.iter::<AnalyticsClassificationMtd>().collect();
        assert_eq!(cls.len(), 1);
        let label = if square { "anomalous" } else { "normal" };
        assert_eq!(classes(&cls[0]), [(label.to_owned(), score as f32)]);
    }
}

/// The float32 row-major tensor `id` of `buffer`'s GstTensorMeta: its dims and values.
fn tensor(buffer: &gst::BufferRef, id: &str) -> (Vec<usize>, Vec<f32>) {
    let meta = buffer.meta::<TensorMeta>().expect("a tensor meta");
    let index = meta.index_from_id(glib::Quark::from_str(id));
    assert!(index >= 0, "no tensor '{id}'");
    let tensor = &meta.as_slice()[index as usize];
    assert_eq!(tensor.data_type(), TensorDataType::Float32);
    assert_eq!(tensor.dims_order(), TensorDimOrder::RowMajor);
    let data = tensor.data().map_readable().unwrap();
    let values = data
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (tensor.dims().to_vec(), values)
}

#[test]
fn the_class_scores_travel_as_a_tensor() {
    init();
    // dominant_channel's scores are its input: the frame's R, G and B planes over 255.
    let input = read_rgb("input_33x25.rgb", W, H);
    let out = run_one(
        &format!(
            "onnxsegmentation model-file={}",
            fixture_str("dominant_channel.onnx")
        ),
        VideoFormat::Rgba,
        W,
        H,
        pack(&input, W, H, VideoFormat::Rgba, W * 4),
    );
    let (dims, values) = tensor(&out, "autoencoder-segmentation-scores");
    assert_eq!(dims, [1, 3, H, W]);
    let expected: Vec<f32> = (0..3)
        .flat_map(|c| (0..W * H).map(move |i| (c, i)))
        .map(|(c, i)| f32::from(input[i * 3 + c]) / 255.0)
        .collect();
    let worst = values
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-6, "scores off by {worst}");
}

#[test]
fn the_anomaly_error_and_the_map_travel_as_tensors() {
    init();
    let (w, h) = (48, 40);
    let mut rgb = vec![80u8; w * h * 3];
    for y in 12..26 {
        rgb[(y * w + 16) * 3..(y * w + 30) * 3].fill(230);
    }
    let out = run_one(
        &format!(
            "onnxanomaly model-file={} threshold=2",
            fixture_str("clipped_reconstruction.onnx")
        ),
        VideoFormat::Rgb,
        w,
        h,
        pack(&rgb, w, h, VideoFormat::Rgb, w * 3),
    );
    let (dims, error) = tensor(&out, "autoencoder-anomaly-error");
    assert_eq!(dims, [1, 1, h, w]);
    // The square's centre is anomalous, the far corner is not (tests/anomaly.rs has the maths).
    assert!(error[19 * w + 23] >= 2.0, "{}", error[19 * w + 23]);
    assert!(error[0] < 1e-3, "{}", error[0]);

    // onnxmap: the map's range in the custom meta is the tensor's range.
    let input = read_rgb("input_33x25.rgb", W, H);
    let out = run_one(
        &format!("onnxmap model-file={}", fixture_str("map_gradient.onnx")),
        VideoFormat::Rgb,
        W,
        H,
        pack(&input, W, H, VideoFormat::Rgb, W * 3),
    );
    let (dims, map) = tensor(&out, "autoencoder-map");
    assert_eq!(&dims[..2], [1, 1]);
    assert_eq!(map.len(), dims[2] * dims[3]);
    let custom = gst::meta::CustomMeta::from_buffer(&out, "GstAutoencoderMapMeta").unwrap();
    let (min, max) = map
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert_eq!(
        custom.structure().get::<f64>("min").unwrap(),
        f64::from(min)
    );
    assert_eq!(
        custom.structure().get::<f64>("max").unwrap(),
        f64::from(max)
    );
}
