// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxsegmentation: runs a segmentation model (`[1,K,h,w]` class scores, or `[1,1,h,w]` for a
//! binary foreground model) and draws the classes into the stream as an overlay or a mask, or
//! outputs the class ids as GRAY8. Every buffer carries the per-class pixel fractions in a
//! custom meta (`GstAutoencoderSegmentationMeta`), and `post-messages` posts them on the bus;
//! both as arrays (`class-names`, `fractions`) and as plain numbered fields (`classes`,
//! `class-<i>-name`, `fraction-<i>`) for bindings that cannot read arrays, such as PyGObject
//! without the GStreamer overrides (see [`META_NAME`]).
//!
//! ```text
//! gst-launch-1.0 videotestsrc ! videoconvert ! \
//!     onnxsegmentation model-file=models/segmentation_unet.onnx alpha=0.5 ! \
//!     videoconvert ! autovideosink
//! ```

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use crate::common::element::{ElementCore, FrameSettings, Started, stream_error};
use crate::common::live::{self, FrameCost, Scheduled};
use crate::common::model_settings::ModelSettings;
use crate::common::{SharedF32, analysis, error_message, refuse_while_running, strings};
use crate::inference::background::{Backdrop, Foreground, fill_alpha};
use crate::inference::convert::{blend_rgb8, to_rgb8};
use crate::inference::model::ModelDescription;
use crate::inference::score_map::{ScoreMap, Upsampler};
use crate::inference::segmentation::{
    BinaryScores, ClassMap, Palette, class_fractions, draw_classes,
};
use crate::inference::{Error, ImageRef, RunOutput, Task, TensorLayout};

/// The name of the custom meta on every output buffer: a structure with `class-names` (an
/// array of strings) and `fractions` (an array of f64: per class, the share of the frame's
/// pixels in 0..=1).
///
/// The same values are also there as plain fields, on purpose: `classes` (u32, the number of
/// classes), and for each class `i` from 0, `class-<i>-name` (string) and `fraction-<i>` (f64).
/// GstValueArray fields cannot be read by plain PyGObject (`TypeError: unknown type
/// GstValueArray` without the python3-gst-1.0 overrides); scalar fields can be read from any
/// language. The fields are numbered rather than named after the classes because class names
/// are free text (spaces, repeats) and field names are not. A binary model that names fewer
/// classes than it has (two: background, foreground) gets `class<i>` for the missing names.
pub const META_NAME: &std::ffi::CStr = c"GstAutoencoderSegmentationMeta";
/// The structure name of the element message `post-messages` posts on every buffer: the
/// meta's fields (the arrays and the plain fields, see [`META_NAME`]) plus `timestamp` (the
/// buffer's PTS).
pub const MESSAGE_NAME: &str = "autoencoder-segmentation";
const MODEL_KIND: &str = "segmentation";

const DEFAULT_ALPHA: f64 = 0.5;
const DEFAULT_THRESHOLD: f64 = 0.5;
const DEFAULT_INTERVAL: u32 = 1;
const DEFAULT_BLUR_STRENGTH: u32 = 16;
/// Chroma-key green.
const DEFAULT_BACKGROUND_COLOR: u32 = 0xff00_b140;

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderSegmentationOutput")]
/// What `onnxsegmentation` writes into the stream (its `output` property).
pub enum Output {
    /// Class colours blended over the frame with `alpha` (the default).
    #[default]
    #[enum_value(
        name = "Class colours blended over the frame with 'alpha'",
        nick = "overlay"
    )]
    Overlay,
    /// The colour mask alone.
    #[enum_value(name = "The colour mask alone", nick = "mask")]
    Mask,
    /// A GRAY8 frame whose every byte is the pixel's class id.
    #[enum_value(name = "A GRAY8 frame of class ids", nick = "classes")]
    Classes,
    /// The foreground (every class but 0: a person) kept, the background blurred.
    #[enum_value(
        name = "The foreground kept, the background blurred ('blur-strength')",
        nick = "blur"
    )]
    Blur,
    /// The foreground kept, the background replaced by a picture or a colour.
    #[enum_value(
        name = "The foreground kept, the background replaced ('background-image', else 'background-color')",
        nick = "replace"
    )]
    Replace,
    /// The foreground kept, the background made transparent (formats with alpha).
    #[enum_value(
        name = "The foreground kept, the background transparent (alpha formats)",
        nick = "cutout"
    )]
    Cutout,
}

impl Output {
    /// Whether this output keeps the foreground and changes the background.
    fn is_background(self) -> bool {
        matches!(self, Output::Blur | Output::Replace | Output::Cutout)
    }
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderUpsampling")]
/// How `onnxsegmentation` takes the model's decisions to the frame size (its `upsampling`
/// property).
pub enum Upsampling {
    /// The scores are interpolated to each frame pixel and decided there: smooth edges.
    #[default]
    #[enum_value(
        name = "Scores interpolated bilinearly to the frame, then decided: smooth edges",
        nick = "bilinear"
    )]
    Bilinear,
    /// Decided at model resolution, the class ids scaled by nearest neighbour: stair-stepped
    /// edges, the least work.
    #[enum_value(
        name = "Decided at model resolution, scaled by nearest neighbour: stair-stepped edges",
        nick = "nearest"
    )]
    Nearest,
}

#[derive(Debug, Clone, Default)]
struct Settings {
    model: ModelSettings,
    palette: Option<String>,
    upsampling: Upsampling,
    background_image: Option<std::path::PathBuf>,
    live: PerFrame,
}

/// The settings each frame reads, copied out under the lock (`output` among them, which only
/// changes in READY).
#[derive(Debug, Clone, Copy)]
struct PerFrame {
    output: Output,
    alpha: f64,
    transparent_background: bool,
    threshold: f64,
    interval: u32,
    post_messages: bool,
    blur_strength: u32,
    /// 0xAARRGGBB (the alpha byte is not used).
    background_color: u32,
    feather: u32,
}

impl Default for PerFrame {
    fn default() -> Self {
        Self {
            output: Output::Overlay,
            alpha: DEFAULT_ALPHA,
            transparent_background: true,
            threshold: DEFAULT_THRESHOLD,
            interval: DEFAULT_INTERVAL,
            post_messages: false,
            blur_strength: DEFAULT_BLUR_STRENGTH,
            background_color: DEFAULT_BACKGROUND_COLOR,
            feather: 0,
        }
    }
}

/// Keeps the frame's part of the scores, or decides the classes at model resolution for
/// nearest upsampling (on the inference thread in non-blocking mode).
struct SegmentationTask {
    binary: BinaryScores,
    threshold: SharedF32,
    upsampling: Upsampling,
}

/// A result at model resolution: the scores (bilinear upsampling) or the classes (nearest).
#[derive(Default)]
struct ModelResult {
    scores: ScoreMap,
    classes: ClassMap,
}

impl Task for SegmentationTask {
    type Output = ModelResult;

    fn read(
        &mut self,
        run: &RunOutput,
        layout: TensorLayout,
        out: &mut ModelResult,
    ) -> Result<(), Error> {
        // The output covers the input tensor; take the frame's part of it.
        let out_w = usize::try_from(*run.shape.get(3).unwrap_or(&0)).unwrap_or(0);
        let out_h = usize::try_from(*run.shape.get(2).unwrap_or(&0)).unwrap_or(0);
        let w = (layout.content.width * out_w / layout.tensor.width).max(1);
        let h = (layout.content.height * out_h / layout.tensor.height).max(1);
        match self.upsampling {
            Upsampling::Bilinear => out.scores.keep(run.shape, run.values, w, h),
            Upsampling::Nearest => out.classes.decide(
                run.shape,
                run.values,
                w,
                h,
                self.threshold.get(),
                self.binary,
            ),
        }
    }
}

/// What the element keeps of its own while started.
struct Own {
    /// One name per class (as many as `fractions` has values).
    class_names: Vec<String>,
    /// The plain fields of the meta and message per class: `class-<i>-name`, `fraction-<i>`
    /// (made once at start: nothing is allocated per frame).
    class_fields: Vec<(glib::GString, glib::GString)>,
    palette: Palette,
    /// The newest result scaled to the frame, and its class fractions.
    frame: ClassMap,
    upsampler: Upsampler,
    binary: BinaryScores,
    /// Background outputs: the foreground weights at frame size, and the picture behind.
    /// How decisions reach the frame size (as the task reads the output).
    upsampling: Upsampling,
    foreground: Foreground,
    picture: Option<Backdrop>,
    /// output=cutout from a format without alpha: the frame as packed RGB.
    rgb: Vec<u8>,
    fractions: Vec<f64>,
    columns: Vec<usize>,
}

type State = Started<SegmentationTask, Own>;

/// The element's implementation: its settings, and the inference state while started.
#[derive(Default)]
pub struct Segmentation {
    settings: Mutex<Settings>,
    core: ElementCore<SegmentationTask, Own>,
    threshold: SharedF32,
}

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onnxsegmentation",
        gst::DebugColorFlags::empty(),
        Some("ONNX segmentation element"),
    )
});

#[glib::object_subclass]
impl ObjectSubclass for Segmentation {
    const NAME: &'static str = "GstOnnxSegmentation";
    type Type = super::Segmentation;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for Segmentation {
    fn constructed(&self) {
        self.parent_constructed();
        // Late frames are dropped before inference when the sink reports them (QoS events).
        gst_base::prelude::BaseTransformExt::set_qos(&*self.obj(), true);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = ModelSettings::properties();
            props.extend([
                glib::ParamSpecEnum::builder::<Output>("output")
                    .nick("Output")
                    .blurb("What the element outputs: overlay, mask, or GRAY8 class ids")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder::<Upsampling>("upsampling")
                    .nick("Upsampling")
                    .blurb(
                        "How the model's decisions reach the frame size: bilinear (scores \
                         interpolated to each pixel, then decided: smooth edges) or nearest \
                         (decided at model resolution: stair-stepped edges, the least work)",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("alpha")
                    .nick("Alpha")
                    .blurb("Opacity of the class colours in the overlay")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_ALPHA)
                    .mutable_playing()
                    .controllable()
                    .build(),
                glib::ParamSpecBoolean::builder("transparent-background")
                    .nick("Transparent background")
                    .blurb("Leave class 0 (background) uncoloured in the overlay")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("palette")
                    .nick("Palette")
                    .blurb("Class colours 'R,G,B;R,G,B;...' (overrides the model's 'class_colors'; empty: the model's, else a distinct palette)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("threshold")
                    .nick("Threshold")
                    .blurb("Foreground probability threshold for single-channel (binary) models")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_THRESHOLD)
                    .mutable_playing()
                    .controllable()
                    .build(),
                glib::ParamSpecUInt::builder("blur-strength")
                    .nick("Blur strength")
                    .blurb("output=blur: the background is averaged over blocks of this many pixels and smoothed back up")
                    .minimum(2)
                    .maximum(256)
                    .default_value(DEFAULT_BLUR_STRENGTH)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("background-color")
                    .nick("Background colour")
                    .blurb("output=replace without background-image: the colour behind the foreground, 0xAARRGGBB (alpha unused)")
                    .default_value(DEFAULT_BACKGROUND_COLOR)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("background-image")
                    .nick("Background image")
                    .blurb("output=replace: a PNG or JPEG picture behind the foreground, resized to the frame (empty: background-color)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("feather")
                    .nick("Feather")
                    .blurb("Background outputs: soften the foreground's edge over about this many pixels (0: the model's own edge, interpolated)")
                    .maximum(256)
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Infer every N-th frame and reuse the last classes in between")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post an 'autoencoder-segmentation' element message with the class fractions of each frame")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
            ]);
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let name = pspec.name();
        if refuse_while_running(self.obj().upcast_ref(), *CAT, pspec) {
            return;
        }
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let old = property_of(&s, name);
        match name {
            "output" => s.live.output = value.get().expect("type checked upstream"),
            "upsampling" => s.upsampling = value.get().expect("type checked upstream"),
            "alpha" => s.live.alpha = value.get().expect("type checked upstream"),
            "transparent-background" => {
                s.live.transparent_background = value.get().expect("type checked upstream")
            }
            "palette" => match strings::text_of(value) {
                Ok(palette) => s.palette = palette,
                Err(()) => strings::warn_not_text(&self.obj().name(), name),
            },
            "threshold" => {
                s.live.threshold = value.get().expect("type checked upstream");
                self.threshold.set(s.live.threshold as f32);
            }
            "interval" => s.live.interval = value.get().expect("type checked upstream"),
            "blur-strength" => s.live.blur_strength = value.get().expect("type checked upstream"),
            "background-color" => {
                s.live.background_color = value.get().expect("type checked upstream")
            }
            "background-image" => s.background_image = strings::path_of(value),
            "feather" => s.live.feather = value.get().expect("type checked upstream"),
            "post-messages" => s.live.post_messages = value.get().expect("type checked upstream"),
            _ => s.model.set(name, value, &self.obj().name()),
        }
        gst::info!(
            CAT,
            imp = self,
            "{name}: {old:?} -> {:?}",
            property_of(&s, name)
        );
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        property_of(
            &self.settings.lock().unwrap_or_else(|e| e.into_inner()),
            pspec.name(),
        )
    }
}

fn property_of(s: &Settings, name: &str) -> glib::Value {
    match name {
        "output" => s.live.output.to_value(),
        "upsampling" => s.upsampling.to_value(),
        "alpha" => s.live.alpha.to_value(),
        "transparent-background" => s.live.transparent_background.to_value(),
        "palette" => s.palette.to_value(),
        "threshold" => s.live.threshold.to_value(),
        "interval" => s.live.interval.to_value(),
        "blur-strength" => s.live.blur_strength.to_value(),
        "background-color" => s.live.background_color.to_value(),
        "background-image" => strings::path_value(s.background_image.as_deref()),
        "feather" => s.live.feather.to_value(),
        "post-messages" => s.live.post_messages.to_value(),
        _ => s.model.get(name),
    }
}

impl GstObjectImpl for Segmentation {}

impl ElementImpl for Segmentation {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "ONNX segmentation",
                "Filter/Analyzer/Video",
                "Runs a segmentation ONNX model (SegNet / U-Net style class scores) on every frame \
                 and draws the classes as an overlay or a mask, or outputs the class ids",
                "gst-plugin-autoencoder developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(analysis::pad_templates);
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for Segmentation {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::Both;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.threshold.set(settings.live.threshold as f32);
        let threshold = self.threshold.clone();
        let active = self.core.start(
            self.obj().upcast_ref(),
            *CAT,
            &settings.model,
            MODEL_KIND,
            "a segmentation model",
            |description, _, not_this| {
                // The background outputs blend by the scores: they need them, whatever
                // `upsampling` says.
                let upsampling = if settings.live.output.is_background() {
                    Upsampling::Bilinear
                } else {
                    settings.upsampling
                };
                let (own, binary) = prepare(
                    description,
                    settings.palette.as_deref(),
                    settings.background_image.as_deref(),
                    upsampling,
                    not_this,
                )?;
                let task = SegmentationTask {
                    binary,
                    threshold,
                    upsampling,
                };
                Ok((task, own))
            },
        )?;
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .model
            .active_provider = active.active_provider;
        Ok(())
    }

    live::scheduled_transform_vfuncs!();
    analysis::analysis_transform_vfuncs!();

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.core.stop();
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .model
            .active_provider
            .clear();
        Ok(())
    }

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let output = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .live
            .output;
        let formats = match output {
            Output::Classes => analysis::OutputFormats::Gray8,
            // A transparent background needs an alpha channel: the element converts.
            Output::Cutout => analysis::OutputFormats::Alpha,
            _ => analysis::OutputFormats::Same,
        };
        Some(analysis::transform_caps(direction, caps, filter, formats))
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (settings, frame_settings) = self.frame_settings();
        let mut state = self.core.lock();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (info, _) = state.caps()?;
        {
            let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &info)
                .map_err(|_| gst::FlowError::Error)?;
            let mut image = analysis::image_mut(&mut frame, &info)?;
            if !self.classify(state, frame_settings, &settings, &image.as_ref())? {
                return Ok(gst::FlowSuccess::Ok); // non-blocking, no result yet: unchanged
            }
            self.draw(state, &settings, &mut image)?;
        }
        self.publish(state, &settings, buf);
        Ok(gst::FlowSuccess::Ok)
    }

    fn transform(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (settings, frame_settings) = self.frame_settings();
        let mut state = self.core.lock();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (in_info, out_info) = state.caps()?;
        if out_info.format() != gst_video::VideoFormat::Gray8 {
            return self.cut_out_converted(state, (&settings, frame_settings), inbuf, outbuf);
        }
        {
            let in_frame =
                gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), &in_info)
                    .map_err(|_| gst::FlowError::Error)?;
            let image = analysis::image_ref(&in_frame, &in_info)?;
            if !self.classify(state, frame_settings, &settings, &image)? {
                // Non-blocking, no result yet: all background.
                analysis::write_gray8(outbuf, &out_info, |data, _| data.fill(0))?;
                return Ok(gst::FlowSuccess::Ok);
            }
        }
        let width = out_info.width() as usize;
        analysis::write_gray8(outbuf, &out_info, |data, stride| {
            for (row, ids) in data
                .chunks_mut(stride)
                .zip(state.own.frame.ids.chunks_exact(width))
            {
                row[..width].copy_from_slice(ids);
            }
        })?;
        self.publish(state, &settings, outbuf);
        Ok(gst::FlowSuccess::Ok)
    }
}

impl Segmentation {
    /// The settings each frame reads.
    fn frame_settings(&self) -> (PerFrame, FrameSettings) {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        (s.live, FrameSettings::new(&s.model, s.live.interval))
    }

    /// Runs inference on this frame when due and brings the frame-size class ids and their
    /// fractions up to date with the newest result. Returns false while there is no result.
    fn classify(
        &self,
        state: &mut State,
        settings: FrameSettings,
        per_frame: &PerFrame,
        image: &ImageRef,
    ) -> Result<bool, gst::FlowError> {
        let background = per_frame.output.is_background();
        let feather = per_frame.feather as usize;
        let element = self.obj();
        let element: &gst::Element = element.upcast_ref();
        self.core.infer(element, state, settings, image)?;
        let (width, height) = (image.width, image.height);
        state
            .derive_from_newest(width, height, |result, own| {
                if background {
                    own.foreground.from_scores(&result.scores, own.binary);
                    own.foreground.to_frame(width, height, feather)?;
                }
                if own.upsampling == Upsampling::Bilinear {
                    let threshold = self.threshold.get();
                    own.frame.decide_upsampled(
                        &result.scores,
                        &mut own.upsampler,
                        (width, height),
                        threshold,
                        own.binary,
                    );
                } else {
                    let (ids, columns) = (&mut own.frame.ids, &mut own.columns);
                    result
                        .classes
                        .scale_nearest_into(width, height, ids, columns);
                }
                let count = own.class_names.len().max(2);
                class_fractions(&own.frame.ids, count, &mut own.fractions);
                Ok(())
            })
            .map_err(|e| stream_error(element, &state.explain(e)))
    }

    /// output=cutout on an input without alpha: the frame converted into the output's alpha
    /// format, its alpha the foreground weight (opaque before the first result).
    fn cut_out_converted(
        &self,
        state: &mut State,
        (settings, frame_settings): (&PerFrame, FrameSettings),
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (in_info, out_info) = state.caps()?;
        {
            let in_frame =
                gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), &in_info)
                    .map_err(|_| gst::FlowError::Error)?;
            let image = analysis::image_ref(&in_frame, &in_info)?;
            let processed = self.classify(state, frame_settings, settings, &image)?;
            let mut out_frame =
                gst_video::VideoFrameRef::from_buffer_ref_writable(outbuf, &out_info)
                    .map_err(|_| gst::FlowError::Error)?;
            let mut out_image = analysis::image_mut(&mut out_frame, &out_info)?;
            let own = &mut state.own;
            own.rgb.resize(image.width * image.height * 3, 0);
            to_rgb8(&image, &mut own.rgb);
            blend_rgb8(&own.rgb, &mut out_image, 1.0);
            if processed {
                own.foreground.cut_out(&mut out_image);
            } else {
                fill_alpha(&mut out_image, u8::MAX);
                return Ok(gst::FlowSuccess::Ok);
            }
        }
        self.publish(state, settings, outbuf);
        Ok(gst::FlowSuccess::Ok)
    }

    /// Draws the newest result into the frame as `output` says (GRAY8 class ids are written
    /// elsewhere).
    fn draw(
        &self,
        state: &mut State,
        settings: &PerFrame,
        image: &mut crate::inference::ImageMut,
    ) -> Result<(), gst::FlowError> {
        let own = &mut state.own;
        let composited = match settings.output {
            Output::Overlay | Output::Mask | Output::Classes => {
                let (alpha, skip) = match settings.output {
                    Output::Mask => (1.0, false),
                    _ => (settings.alpha as f32, settings.transparent_background),
                };
                draw_classes(image, &own.frame.ids, &own.palette, alpha, skip);
                Ok(())
            }
            Output::Blur => own.foreground.composite(
                image,
                &Backdrop::Blur {
                    strength: settings.blur_strength as usize,
                },
            ),
            Output::Replace => {
                let [_, r, g, b] = settings.background_color.to_be_bytes();
                let colour = Backdrop::Colour([r, g, b]);
                let backdrop = own.picture.as_ref().unwrap_or(&colour);
                own.foreground.composite(image, backdrop)
            }
            Output::Cutout => {
                own.foreground.cut_out(image);
                Ok(())
            }
        };
        let element = self.obj();
        composited.map_err(|e| stream_error(element.upcast_ref(), &state.explain(e)))
    }

    /// Attaches the class fractions to the buffer and posts them when asked to: as arrays, and
    /// as plain fields that every language binding reads (see [`META_NAME`]).
    fn publish(&self, state: &State, settings: &PerFrame, buf: &mut gst::BufferRef) {
        #[cfg(feature = "v1_26")]
        self.attach_analytics(state, buf);
        let state = &state.own;
        let structure = |name: &str| {
            let mut s = gst::Structure::builder(name)
                .field(
                    "class-names",
                    gst::Array::new(state.class_names.iter().map(String::as_str)),
                )
                .field(
                    "fractions",
                    gst::Array::new(state.fractions.iter().copied()),
                )
                .field(
                    "classes",
                    u32::try_from(state.class_names.len()).unwrap_or(u32::MAX),
                )
                .build();
            let per_class = state.class_names.iter().zip(&state.fractions);
            for ((name_field, fraction_field), (class, fraction)) in
                state.class_fields.iter().zip(per_class)
            {
                s.set(name_field.as_gstr(), class.as_str());
                s.set(fraction_field.as_gstr(), *fraction);
            }
            s
        };
        if let Err(e) =
            analysis::attach_structure(buf, META_NAME, &structure(&META_NAME.to_string_lossy()))
        {
            gst::warning!(CAT, imp = self, "could not attach the class fractions: {e}");
        }
        if settings.post_messages {
            let mut s = structure(MESSAGE_NAME);
            s.set("timestamp", buf.pts());
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
    }
}

#[cfg(feature = "v1_26")]
impl Segmentation {
    /// GStreamer >= 1.26: the class-id mask and the class fractions as standard analytics
    /// metadata (a SegmentationMtd related to a ClsMtd), next to the custom meta.
    fn attach_analytics(&self, state: &State, buf: &mut gst::BufferRef) {
        let own = &state.own;
        let Ok((info, _)) = state.caps() else {
            return;
        };
        let (width, height) = (info.width() as usize, info.height() as usize);
        let mask = (own.frame.ids.as_slice(), width, height);
        if let Err(e) = crate::common::analytics::attach_segmentation(
            buf,
            mask,
            &own.class_names,
            &own.fractions,
        ) {
            gst::warning!(CAT, imp = self, "could not attach the analytics metas: {e}");
        }
        let tensor = state.runner.with_latest(|latest| {
            latest.map(|latest| {
                let scores = &latest.output.scores;
                crate::common::analytics::attach_tensor(
                    buf,
                    crate::common::analytics::tensor_ids::SEGMENTATION_SCORES,
                    (scores.classes, scores.height, scores.width),
                    &scores.values,
                )
            })
        });
        if let Some(Err(e)) = tensor {
            gst::warning!(CAT, imp = self, "could not attach the scores tensor: {e}");
        }
    }
}

impl Scheduled for Segmentation {
    fn schedule(&self) -> &live::Schedule {
        &self.core.schedule
    }

    fn frame_cost(&self) -> FrameCost {
        self.core.frame_cost(self.frame_settings().1)
    }

    fn inference(&self) -> &dyn live::Inference {
        &self.core
    }
}

/// Checks the model's output against its class names and palette, and makes the element's
/// state; returns it with how a binary model's scores read.
fn prepare(
    description: &ModelDescription,
    palette: Option<&str>,
    picture: Option<&std::path::Path>,
    upsampling: Upsampling,
    not_this: &dyn Fn(String) -> gst::ErrorMessage,
) -> Result<(Own, BinaryScores), gst::ErrorMessage> {
    let picture = picture
        .map(|path| Backdrop::picture(path).map_err(|e| error_message(&e)))
        .transpose()?;
    let contract = description
        .segmentation()
        .map_err(|e| not_this(e.to_string()))?;
    let classes = contract.class_names.len().max(2); // a binary model: background, foreground
    let (palette_key, palette) = match (palette, contract.class_colors) {
        (Some(p), _) => (
            "property 'palette'",
            Palette::parse("palette", p).map_err(|e| error_message(&e))?,
        ),
        (None, Some(colors)) => ("metadata key 'class_colors'", colors),
        (None, None) => ("", Palette::distinct(classes)),
    };
    if palette.0.len() < classes {
        return Err(gst::error_msg!(
            gst::LibraryError::Settings,
            (
                "the palette ({palette_key}) has {} colours for {classes} classes",
                palette.0.len()
            )
        ));
    }
    // A binary model's one output counts two classes; name those it leaves unnamed, so that
    // there is a name for every fraction.
    let mut class_names = contract.class_names;
    while class_names.len() < classes {
        class_names.push(format!("class{}", class_names.len()));
    }
    let class_fields = (0..class_names.len())
        .map(|i| {
            (
                glib::GString::from(format!("class-{i}-name")),
                glib::GString::from(format!("fraction-{i}")),
            )
        })
        .collect();
    let own = Own {
        class_names,
        class_fields,
        palette,
        frame: ClassMap::default(),
        upsampler: Upsampler::default(),
        binary: contract.scores,
        upsampling,
        foreground: Foreground::default(),
        picture,
        rgb: Vec::new(),
        fractions: Vec::new(),
        columns: Vec::new(),
    };
    Ok((own, contract.scores))
}

/// Registers the custom meta (copied along with buffer copies).
pub(super) fn register_meta() {
    analysis::register_structure_meta(META_NAME);
}
