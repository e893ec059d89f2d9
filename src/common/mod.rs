// SPDX-License-Identifier: MIT OR Apache-2.0
//! GStreamer-side pieces every element shares: the glib enums, the model properties, starting
//! a session from them, and mapping video formats to pixel layouts.

pub mod analysis;
#[cfg(feature = "v1_26")]
pub mod analytics;
pub mod element;
pub mod enums;
pub mod failures;
pub mod latency;
pub mod live;
pub mod model_settings;
pub mod non_finite;
pub mod startup;
pub mod strings;

use gst_video::VideoFormat;

use crate::inference::{Error, PixelLayout};

/// Evaluates `$body` with `$code` bound to the GStreamer error code for an error of `$kind`: a
/// missing model file is `ResourceError::NotFound`, an unreadable one `OpenRead`, a runtime or
/// provider that cannot start `LibraryError::Init`, a setting or model that cannot be used
/// `LibraryError::Settings`, a failed frame `StreamError::Failed`, a thread that cannot start
/// `CoreError::Thread`, an inference server that cannot be reached or does not answer
/// `ResourceError::Read`.
macro_rules! in_domain_of {
    ($kind:expr, |$code:ident| $body:expr) => {{
        use $crate::inference::ErrorKind;
        match $kind {
            ErrorKind::NotFound => {
                let $code = gst::ResourceError::NotFound;
                $body
            }
            ErrorKind::Unreadable => {
                let $code = gst::ResourceError::OpenRead;
                $body
            }
            ErrorKind::Runtime => {
                let $code = gst::LibraryError::Init;
                $body
            }
            ErrorKind::Settings => {
                let $code = gst::LibraryError::Settings;
                $body
            }
            ErrorKind::Inference => {
                let $code = gst::StreamError::Failed;
                $body
            }
            ErrorKind::Thread => {
                let $code = gst::CoreError::Thread;
                $body
            }
            ErrorKind::Server => {
                let $code = gst::ResourceError::Read;
                $body
            }
        }
    }};
}
pub(crate) use in_domain_of;

/// The GStreamer error for a core error, in the domain its kind maps to (see
/// [`in_domain_of`]).
pub fn error_message(e: &Error) -> gst::ErrorMessage {
    in_domain_of!(e.kind(), |code| gst::error_msg!(code, ("{e}")))
}

/// Posts `e` on the bus as an element error in its domain.
pub fn post_error(element: &gst::Element, e: &Error) {
    use gst::prelude::*;
    element.post_error_message(error_message(e));
}

/// The packed RGB-family formats the elements accept, in order of preference.
pub const VIDEO_FORMATS: [VideoFormat; 10] = [
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgbx,
    VideoFormat::Bgrx,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::Xrgb,
    VideoFormat::Xbgr,
    VideoFormat::Argb,
    VideoFormat::Abgr,
];

/// Where the colour bytes of `format` sit; None for formats the elements do not take.
pub fn pixel_layout(format: VideoFormat) -> Option<PixelLayout> {
    Some(match format {
        VideoFormat::Rgb => PixelLayout::RGB,
        VideoFormat::Bgr => PixelLayout::BGR,
        VideoFormat::Rgbx | VideoFormat::Rgba => PixelLayout::RGBA,
        VideoFormat::Bgrx | VideoFormat::Bgra => PixelLayout::BGRA,
        VideoFormat::Xrgb | VideoFormat::Argb => PixelLayout::ARGB,
        VideoFormat::Xbgr | VideoFormat::Abgr => PixelLayout::ABGR,
        _ => return None,
    })
}

/// The element that runs models whose metadata declares `kind`.
pub fn element_for_kind(kind: &str) -> &'static str {
    match kind {
        "style" => "onnxstyletransfer",
        "segmentation" => "onnxsegmentation",
        "anomaly" => "onnxanomaly",
        "super_resolution" => "onnxsuperresolution",
        "map" => "onnxmap",
        _ => "no element of this plugin",
    }
}

/// Checks a model's declared `kind` against the element's; models without one are accepted.
pub fn check_kind(declared: Option<&str>, expected: &str) -> Result<(), String> {
    match declared {
        Some(kind) if kind != expected => Err(format!(
            "its metadata says kind '{kind}' ({} runs it)",
            element_for_kind(kind)
        )),
        _ => Ok(()),
    }
}

/// True (and logs why) when `pspec` may only change in READY or below and `element` is past
/// READY: GStreamer leaves enforcing `mutable_ready()` to the element.
pub fn refuse_while_running(
    element: &gst::Element,
    cat: gst::DebugCategory,
    pspec: &gst::glib::ParamSpec,
) -> bool {
    use gst::prelude::*;
    let refuse = pspec.flags().contains(gst::PARAM_FLAG_MUTABLE_READY)
        && element.current_state() > gst::State::Ready;
    if refuse {
        gst::warning!(
            cat,
            obj = element,
            "'{}' can only change in the READY or NULL state; ignored",
            pspec.name()
        );
    }
    refuse
}

/// An f32 setting shared with an inference thread (read at every inference, set any time).
#[derive(Debug, Clone, Default)]
pub struct SharedF32(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl SharedF32 {
    /// Sets the value; the inference thread reads it at its next inference.
    pub fn set(&self, value: f32) {
        self.0
            .store(value.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The value last set (0.0 before any).
    pub fn get(&self) -> f32 {
        f32::from_bits(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// How a frame's inference goes, as the element's settings and the schedule say.
#[derive(Debug, Clone, Copy)]
pub struct InferMode {
    /// The frame is due for inference (`interval`), and not held (its inference ran already).
    pub due: bool,
    /// Inference runs on its own thread and frames do not wait for it (`non-blocking`).
    pub non_blocking: bool,
    /// Non-blocking: wait for the first result rather than pass frames unprocessed.
    pub wait_first_result: bool,
}

/// Runs the inference step of `frame`: nothing when not due; in non-blocking mode started
/// when the inference thread is free; else run and waited for. Returns whether the frame
/// waited for an inference of its own (its time counts as the element's latency).
pub fn infer_frame<T: crate::inference::Task>(
    runner: &mut crate::inference::Runner<T>,
    input: &mut crate::inference::TensorInput,
    frame: &crate::inference::ImageRef,
    mode: InferMode,
) -> Result<bool, Error> {
    if !mode.due {
        return Ok(false);
    }
    if !mode.non_blocking {
        runner.run_frame(input, frame)?;
        return Ok(true);
    }
    runner.submit_frame(input, frame)?;
    if mode.wait_first_result && runner.with_latest(|latest| latest.is_none()) {
        runner.finish()?;
    }
    Ok(false)
}

/// Brings the element's controlled properties (GstController bindings) to the time of
/// `buffer`, as BaseTransform elements do before each transform.
pub fn sync_controlled(element: &gst_base::BaseTransform, buffer: &gst::BufferRef) {
    use gst::prelude::*;
    use gst_base::prelude::*;
    let segment = element.segment();
    if let Some(stream_time) = segment
        .downcast_ref::<gst::format::Time>()
        .and_then(|s| s.to_stream_time(buffer.pts()))
    {
        let _ = element.sync_values(stream_time);
    }
}
