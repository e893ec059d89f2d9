// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the analysis elements (onnxsegmentation, onnxanomaly, onnxmap) share: an RGB sink with
//! an RGB, GRAY8 or GRAY16 source, frames as core images, and results as a structure on each
//! buffer (GstCustomMeta, readable from C, Rust and Python without decoding pixels).

use std::ffi::CStr;

use gst::glib;
use gst::prelude::*;
use gst_video::prelude::*;

use super::{VIDEO_FORMATS, pixel_layout};
use crate::inference::{ImageMut, ImageRef};

/// Pad templates: any accepted RGB format in; the same or GRAY8 out.
pub fn pad_templates() -> Vec<gst::PadTemplate> {
    pad_templates_with(gst_video::VideoFormat::Gray8)
}

/// Pad templates: any accepted RGB format in; the same or `other` (a GRAY format) out.
pub fn pad_templates_with(other: gst_video::VideoFormat) -> Vec<gst::PadTemplate> {
    let rgb = gst_video::VideoCapsBuilder::new()
        .format_list(VIDEO_FORMATS)
        .build();
    let mut src = rgb.clone();
    src.merge(gst_video::VideoCapsBuilder::new().format(other).build());
    vec![
        gst::PadTemplate::new(
            "src",
            gst::PadDirection::Src,
            gst::PadPresence::Always,
            &src,
        )
        .unwrap(),
        gst::PadTemplate::new(
            "sink",
            gst::PadDirection::Sink,
            gst::PadPresence::Always,
            &rgb,
        )
        .unwrap(),
    ]
}

/// What an analysis element's source pad carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormats {
    /// The input's format (drawn in place).
    Same,
    /// GRAY8 (class ids, an error map).
    Gray8,
    /// A format with alpha, whatever the input's (a transparent background).
    Alpha,
    /// GRAY16_LE (a normalised one-channel map).
    Gray16,
}

/// The caps on the other side: the same caps, or with the format swapped between the RGB
/// formats and what the element outputs.
pub fn transform_caps(
    direction: gst::PadDirection,
    caps: &gst::Caps,
    filter: Option<&gst::Caps>,
    output: OutputFormats,
) -> gst::Caps {
    let mut other = caps.clone();
    let src_formats: &[gst_video::VideoFormat] = match output {
        OutputFormats::Same => &[],
        OutputFormats::Gray8 => &[gst_video::VideoFormat::Gray8],
        OutputFormats::Alpha => &ALPHA_FORMATS,
        OutputFormats::Gray16 => &[gst_video::VideoFormat::Gray16Le],
    };
    if !src_formats.is_empty() {
        let formats: &[gst_video::VideoFormat] = match direction {
            gst::PadDirection::Sink => src_formats,
            _ => &VIDEO_FORMATS,
        };
        let list = gst::List::new(formats.iter().map(|f| f.to_str().to_send_value()));
        for s in other.make_mut().iter_mut() {
            s.set_value("format", list.to_send_value());
        }
        if output == OutputFormats::Alpha {
            // The same format first where it has alpha: the element then works in place.
            let alpha = gst_video::VideoCapsBuilder::new()
                .format_list(ALPHA_FORMATS)
                .build();
            let mut same = caps.intersect_with_mode(&alpha, gst::CapsIntersectMode::First);
            same.merge(other);
            other = same;
        }
    }
    match filter {
        Some(f) => f.intersect_with_mode(&other, gst::CapsIntersectMode::First),
        None => other,
    }
}

/// The formats with an alpha channel (a transparent background needs one).
pub const ALPHA_FORMATS: [gst_video::VideoFormat; 4] = [
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Argb,
    gst_video::VideoFormat::Abgr,
];

/// The packed image of a mapped RGB-family `frame` (plane 0) as the core reads it; a format
/// that is not packed RGB is `NotNegotiated`.
pub fn image_ref<'a>(
    frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>,
    info: &gst_video::VideoInfo,
) -> Result<ImageRef<'a>, gst::FlowError> {
    Ok(ImageRef {
        data: frame.plane_data(0).map_err(|_| gst::FlowError::Error)?,
        width: info.width() as usize,
        height: info.height() as usize,
        stride: frame.plane_stride()[0] as usize,
        layout: pixel_layout(info.format()).ok_or(gst::FlowError::NotNegotiated)?,
    })
}

/// The writable packed image of a mapped RGB-family `frame` (plane 0); a format that is not
/// packed RGB is `NotNegotiated`.
pub fn image_mut<'a>(
    frame: &'a mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    info: &gst_video::VideoInfo,
) -> Result<ImageMut<'a>, gst::FlowError> {
    let stride = frame.plane_stride()[0] as usize;
    Ok(ImageMut {
        data: frame.plane_data_mut(0).map_err(|_| gst::FlowError::Error)?,
        width: info.width() as usize,
        height: info.height() as usize,
        stride,
        layout: pixel_layout(info.format()).ok_or(gst::FlowError::NotNegotiated)?,
    })
}

/// Maps a GRAY8 output frame (or any one-plane frame: GRAY16) and hands its bytes and stride
/// to `write`.
pub fn write_gray8(
    outbuf: &mut gst::BufferRef,
    info: &gst_video::VideoInfo,
    write: impl FnOnce(&mut [u8], usize),
) -> Result<(), gst::FlowError> {
    let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(outbuf, info)
        .map_err(|_| gst::FlowError::Error)?;
    let stride = frame.plane_stride()[0] as usize;
    write(
        frame.plane_data_mut(0).map_err(|_| gst::FlowError::Error)?,
        stride,
    );
    Ok(())
}

/// Registers a custom meta named `name` that is copied along with buffer copies.
pub fn register_structure_meta(name: &'static CStr) {
    let text = name.to_str().expect("meta names are ASCII");
    if gst::meta::CustomMeta::is_registered(text) {
        return;
    }
    gst::meta::CustomMeta::register_with_transform(text, &[], move |dest, meta, _src, kind| {
        kind == glib::Quark::from_str("gst-copy")
            && attach_structure(dest, name, meta.structure()).is_ok()
    });
}

/// Adds the custom meta `name` holding the fields of `fields` to `buf`.
pub fn attach_structure(
    buf: &mut gst::BufferRef,
    name: &'static CStr,
    fields: &gst::StructureRef,
) -> Result<(), glib::BoolError> {
    // Through the C API with a C string: the binding's `CustomMeta::add` makes a C copy of the
    // name on the heap at every call, and this runs for every frame.
    // SAFETY: `buf` is writable (we hold it mutably); a non-null meta returned by GStreamer
    // lives as long as the buffer and owns its structure.
    let s = unsafe {
        let meta = gst::ffi::gst_buffer_add_custom_meta(buf.as_mut_ptr(), name.as_ptr());
        if meta.is_null() {
            return Err(glib::bool_error!(
                "the custom meta {name:?} is not registered"
            ));
        }
        gst::StructureRef::from_glib_borrow_mut(gst::ffi::gst_custom_meta_get_structure(meta))
    };
    for (field, value) in fields.iter() {
        s.set_value(field, value.clone());
    }
    Ok(())
}

/// The BaseTransform vfuncs the analysis elements (onnxsegmentation, onnxanomaly, onnxmap)
/// share: RGB in, the same or another format out ([`negotiate`]), with an `ElementCore` as the
/// field `core`, a `CAT` debug category and a `frame_settings()` whose second part is the
/// frame's [`FrameSettings`](super::element::FrameSettings). Expands inside the element's
/// `impl BaseTransformImpl`.
macro_rules! analysis_transform_vfuncs {
    () => {
        fn sink_event(&self, event: gst::Event) -> bool {
            self.core.sink_event(self, &event);
            self.parent_sink_event(event)
        }

        fn propose_allocation(
            &self,
            decide_query: Option<&gst::query::Allocation>,
            query: &mut gst::query::Allocation,
        ) -> Result<(), gst::LoggableError> {
            $crate::common::analysis::propose_video_meta(decide_query, query);
            self.parent_propose_allocation(decide_query, query)
        }

        fn before_transform(&self, inbuf: &gst::BufferRef) {
            $crate::common::sync_controlled(self.obj().upcast_ref(), inbuf);
        }

        fn set_caps(
            &self,
            incaps: &gst::Caps,
            outcaps: &gst::Caps,
        ) -> Result<(), gst::LoggableError> {
            let caps =
                $crate::common::analysis::negotiate(self.obj().upcast_ref(), incaps, outcaps)
                    .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
            let settings = self.frame_settings().1;
            let can_pipeline = !settings.non_blocking && settings.interval == 1;
            self.core
                .set_caps(self.obj().upcast_ref(), *CAT, caps, can_pipeline)
        }

        fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
            let answered = BaseTransformImplExt::parent_query(self, direction, query);
            if answered {
                self.core.answer_query(direction, query);
            }
            answered
        }

        fn transform_size(
            &self,
            _direction: gst::PadDirection,
            _caps: &gst::Caps,
            _size: usize,
            othercaps: &gst::Caps,
        ) -> Option<usize> {
            $crate::common::analysis::output_size(othercaps)
        }
    };
}
pub(crate) use analysis_transform_vfuncs;

/// Whether frame number `frame` (counted from 0) runs inference with `interval` N: every N-th.
pub fn inference_due(frame: u64, interval: u32) -> bool {
    frame.is_multiple_of(u64::from(interval.max(1)))
}

/// The negotiated input and output of an analysis element: RGB in, RGB or GRAY8 out. The
/// element transforms in place when both have the same format.
pub fn negotiate(
    element: &gst_base::BaseTransform,
    incaps: &gst::Caps,
    outcaps: &gst::Caps,
) -> Result<(gst_video::VideoInfo, gst_video::VideoInfo), String> {
    use gst_base::prelude::*;
    let in_info =
        gst_video::VideoInfo::from_caps(incaps).map_err(|_| format!("bad caps {incaps}"))?;
    let out_info =
        gst_video::VideoInfo::from_caps(outcaps).map_err(|_| format!("bad caps {outcaps}"))?;
    pixel_layout(in_info.format()).ok_or_else(|| format!("unsupported caps {incaps}"))?;
    element.set_in_place(out_info.format() == in_info.format());
    Ok((in_info, out_info))
}

/// The size of an output buffer: from its own caps (the input may have any stride).
pub fn output_size(othercaps: &gst::Caps) -> Option<usize> {
    gst_video::VideoInfo::from_caps(othercaps)
        .ok()
        .map(|info| info.size())
}

/// As a VideoFilter does: when the element does not work in place (another output format; in place,
/// `decide_query` is None and the query goes downstream), it reads frames of any stride
/// through their VideoMeta, so it says so.
pub fn propose_video_meta(
    decide_query: Option<&gst::query::Allocation>,
    query: &mut gst::query::Allocation,
) {
    if decide_query.is_some() {
        query.add_allocation_meta::<gst_video::VideoMeta>(None);
    }
}
