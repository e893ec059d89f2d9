// SPDX-License-Identifier: MIT OR Apache-2.0
//! The standard GStreamer analytics metas (a `GstAnalyticsRelationMeta`, GStreamer >= 1.26)
//! that the analysis elements attach next to their custom metas when the plugin is built with
//! the `v1_26` feature: onnxsegmentation a semantic `GstAnalyticsSegmentationMtd` (the class-id
//! mask) related N-to-N to a `GstAnalyticsClsMtd` (each class's name and pixel fraction);
//! onnxanomaly a `GstAnalyticsClsMtd` (its decision and score); and every analysis element a
//! `GstTensorMeta` with its result at model resolution (class scores, error map, map), as
//! float32 row-major `[1,C,h,w]`. docs/analytics-metas.md maps every field.

use gst::glib;
use gst::glib::translate::IntoGlibPtr;
use gst_analytics::{
    AnalyticsRelationMeta, AnalyticsRelationMetaClassificationExt, RelTypes, Tensor,
    TensorDataType, TensorDimOrder, TensorMeta, ffi,
};

/// The ids of the tensors the elements attach (a GstTensorMeta's tensors are found by id).
pub mod tensor_ids {
    /// onnxsegmentation: the class scores as the model gave them, `[1,K,h,w]`.
    pub const SEGMENTATION_SCORES: &str = "autoencoder-segmentation-scores";
    /// onnxanomaly: the per-pixel error in units of `error-scale`, `[1,1,h,w]`.
    pub const ANOMALY_ERROR: &str = "autoencoder-anomaly-error";
    /// onnxmap: the map as the model gave it, `[1,1,h,w]`.
    pub const MAP: &str = "autoencoder-map";
}

/// Attaches `values` (`channels` planes of `width` x `height`, row-major) to `buf` as a
/// float32 tensor `[1,channels,height,width]` named `id`, in a GstTensorMeta of its own.
pub fn attach_tensor(
    buf: &mut gst::BufferRef,
    id: &str,
    (channels, height, width): (usize, usize, usize),
    values: &[f32],
) -> Result<(), glib::BoolError> {
    let dims = [1, channels, height, width];
    let len = channels
        .checked_mul(height)
        .and_then(|n| n.checked_mul(width));
    if len != Some(values.len()) {
        return Err(glib::bool_error!(
            "{} values for a tensor {dims:?}",
            values.len()
        ));
    }
    let data = gst::Buffer::from_mut_slice(bytemuck::cast_slice::<f32, u8>(values).to_vec());
    let tensor = Tensor::new_simple(
        glib::Quark::from_str(id),
        TensorDataType::Float32,
        data,
        TensorDimOrder::RowMajor,
        &dims,
    );
    TensorMeta::add(buf).set(glib::Slice::from(vec![tensor]));
    Ok(())
}

/// The class names a ClsMtd carries for onnxsegmentation: the model's name for class `i`, or
/// `class<i>` where it names fewer classes (a binary model's two classes from one name).
pub fn class_quark(names: &[String], i: usize) -> glib::Quark {
    match names.get(i) {
        Some(name) => glib::Quark::from_str(name),
        None => glib::Quark::from_str(format!("class{i}")),
    }
}

/// The quark of onnxanomaly's ClsMtd: `anomalous` at or above the threshold, else `normal`.
pub fn anomaly_quark(anomalous: bool) -> glib::Quark {
    glib::Quark::from_str(if anomalous { "anomalous" } else { "normal" })
}

/// The buffer's relation meta: the one already there (from upstream, or copied from the input
/// buffer), else a new one.
fn relation_meta(
    buf: &mut gst::BufferRef,
) -> Result<gst::MetaRefMut<'_, AnalyticsRelationMeta, gst::meta::Standalone>, glib::BoolError> {
    if buf.meta::<AnalyticsRelationMeta>().is_none() {
        AnalyticsRelationMeta::add(buf);
    }
    buf.meta_mut::<AnalyticsRelationMeta>()
        .ok_or_else(|| glib::bool_error!("could not add a GstAnalyticsRelationMeta"))
}

/// Attaches onnxsegmentation's result to `buf`: a semantic SegmentationMtd whose mask is a
/// GRAY8 copy of `ids` (`width` x `height`, one class id per pixel, with a VideoMeta) covering
/// the whole frame, its region ids the class ids 0..K (region index = class id), and a ClsMtd
/// with K classes (quark: the class name, confidence level: the class's pixel fraction),
/// related N-to-N. K is `fractions.len()`.
pub fn attach_segmentation(
    buf: &mut gst::BufferRef,
    (ids, width, height): (&[u8], usize, usize),
    class_names: &[String],
    fractions: &[f64],
) -> Result<(), glib::BoolError> {
    if ids.len() != width * height {
        return Err(glib::bool_error!(
            "{} class ids for a {width}x{height} mask",
            ids.len()
        ));
    }
    let mut mask = gst::Buffer::from_mut_slice(ids.to_vec());
    let (w, h) = (width as u32, height as u32);
    // Rows of exactly `width` bytes (VideoMeta::add would assume 4-byte aligned rows).
    gst_video::VideoMeta::add_full(
        mask.make_mut(),
        gst_video::VideoFrameFlags::empty(),
        gst_video::VideoFormat::Gray8,
        w,
        h,
        &[0],
        &[width as i32],
    )?;
    let classes = fractions.len();
    let quarks: Vec<glib::Quark> = (0..classes).map(|i| class_quark(class_names, i)).collect();
    let levels: Vec<f32> = fractions.iter().map(|&f| f as f32).collect();
    let mut region_ids: Vec<u32> = (0..classes as u32).collect();

    let mut meta = relation_meta(buf)?;
    let cls_id = meta.add_cls_mtd(&levels, &quarks)?.id();
    // gstreamer-analytics 0.25 binds GstAnalyticsSegmentationMtd only in its -sys crate.
    let mut seg = std::mem::MaybeUninit::<ffi::GstAnalyticsSegmentationMtd>::uninit();
    // SAFETY: `meta` is a writable relation meta of `buf`; the mask is handed over (transfer
    // full) with the VideoMeta the call requires; `region_ids` holds `classes` ids and is copied
    // by the call; `seg` is written when the call returns true and read only then.
    let seg_id = unsafe {
        let added = ffi::gst_analytics_relation_meta_add_segmentation_mtd(
            meta.as_mut_ptr(),
            mask.into_glib_ptr(),
            ffi::GST_SEGMENTATION_TYPE_SEMANTIC,
            classes,
            region_ids.as_mut_ptr(),
            0,
            0,
            w,
            h,
            seg.as_mut_ptr(),
        );
        if added == glib::ffi::GFALSE {
            return Err(glib::bool_error!("could not add a segmentation mtd"));
        }
        seg.assume_init().id
    };
    meta.set_relation(RelTypes::N_TO_N, seg_id, cls_id)
}

/// Attaches onnxanomaly's result to `buf`: a ClsMtd with one class, `anomalous` (score at or
/// above the threshold) or `normal`, whose confidence level is the score itself (in units of
/// `error-scale`, not a probability; the custom meta has the threshold).
pub fn attach_anomaly(
    buf: &mut gst::BufferRef,
    score: f32,
    anomalous: bool,
) -> Result<(), glib::BoolError> {
    let mut meta = relation_meta(buf)?;
    meta.add_one_cls_mtd(score, anomaly_quark(anomalous))
        .map(|_| ())
}
