// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxsegmentation: runs a segmentation model ([1,K,h,w] class scores, or [1,1,h,w] for a
//! binary foreground model) and draws the classes into the stream as an overlay or a mask, or
//! outputs the class ids as GRAY8. Every buffer carries the per-class pixel fractions in a
//! custom meta (`GstAutoencoderSegmentationMeta`), and `post-messages` posts them on the bus.
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

use crate::common::live::{self, FrameCost, Phase, Schedule, Scheduled};
use crate::common::model_settings::{ModelSettings, start_runner, start_session};
use crate::common::non_finite::NonFiniteWarning;
use crate::common::{
    InferMode, SharedF32, analysis, check_kind, finish_at_eos, infer_frame, refuse_while_running,
    sync_controlled,
};
use crate::core::segmentation::{BinaryScores, ClassMap, Palette, class_fractions, draw_classes};
use crate::core::{ImageRef, RunOutput, Runner, Task, TensorInput, TensorLayout};

/// The name of the custom meta on every output buffer.
pub const META_NAME: &std::ffi::CStr = c"GstAutoencoderSegmentationMeta";
/// The structure name of the bus message `post-messages` posts.
pub const MESSAGE_NAME: &str = "autoencoder-segmentation";
const MODEL_KIND: &str = "segmentation";

const DEFAULT_ALPHA: f64 = 0.5;
const DEFAULT_THRESHOLD: f64 = 0.5;
const DEFAULT_INTERVAL: u32 = 1;

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderSegmentationOutput")]
pub enum Output {
    #[default]
    #[enum_value(
        name = "Class colours blended over the frame with 'alpha'",
        nick = "overlay"
    )]
    Overlay,
    #[enum_value(name = "The colour mask alone", nick = "mask")]
    Mask,
    #[enum_value(name = "A GRAY8 frame of class ids", nick = "classes")]
    Classes,
}

#[derive(Debug, Clone, Default)]
struct Settings {
    model: ModelSettings,
    palette: Option<String>,
    live: Live,
}

/// The settings each frame reads, copied out under the lock (output only changes in READY).
#[derive(Debug, Clone, Copy)]
struct Live {
    output: Output,
    alpha: f64,
    transparent_background: bool,
    threshold: f64,
    interval: u32,
    post_messages: bool,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            output: Output::Overlay,
            alpha: DEFAULT_ALPHA,
            transparent_background: true,
            threshold: DEFAULT_THRESHOLD,
            interval: DEFAULT_INTERVAL,
            post_messages: false,
        }
    }
}

/// Decides the classes at model resolution (on the inference thread in non-blocking mode).
struct SegmentationTask {
    binary: BinaryScores,
    threshold: SharedF32,
}

impl Task for SegmentationTask {
    type Output = ClassMap;

    fn read(
        &mut self,
        run: &RunOutput,
        layout: TensorLayout,
        out: &mut ClassMap,
    ) -> Result<(), String> {
        // The output covers the input tensor; take the frame's part of it.
        let out_w = *run.shape.get(3).unwrap_or(&0) as usize;
        let out_h = *run.shape.get(2).unwrap_or(&0) as usize;
        let w = (layout.content.width * out_w / layout.tensor.width).max(1);
        let h = (layout.content.height * out_h / layout.tensor.height).max(1);
        out.decide(
            run.shape,
            run.values,
            w,
            h,
            self.threshold.get(),
            self.binary,
        )
    }
}

struct State {
    runner: Runner<SegmentationTask>,
    input: TensorInput,
    class_names: Vec<String>,
    palette: Palette,
    /// The newest result scaled to the frame, its class fractions, and which result and frame
    /// size they were made for.
    frame_ids: Vec<u8>,
    fractions: Vec<f64>,
    drawn: Option<(u64, usize, usize)>,
    columns: Vec<usize>,
    /// Frames seen since the caps were set (inference runs when `frames % interval == 0`).
    frames: u64,
    caps: Option<(gst_video::VideoInfo, gst_video::VideoInfo)>,
}

#[derive(Default)]
pub struct Segmentation {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    threshold: SharedF32,
    schedule: Schedule,
    non_finite: NonFiniteWarning,
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
        let mut s = self.settings.lock().unwrap();
        let old = property_of(&s, name);
        match name {
            "output" => s.live.output = value.get().expect("type checked upstream"),
            "alpha" => s.live.alpha = value.get().expect("type checked upstream"),
            "transparent-background" => {
                s.live.transparent_background = value.get().expect("type checked upstream")
            }
            "palette" => {
                s.palette = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .filter(|p| !p.is_empty())
            }
            "threshold" => {
                s.live.threshold = value.get().expect("type checked upstream");
                self.threshold.set(s.live.threshold as f32);
            }
            "interval" => s.live.interval = value.get().expect("type checked upstream"),
            "post-messages" => s.live.post_messages = value.get().expect("type checked upstream"),
            _ => s.model.set(name, value),
        }
        gst::info!(
            CAT,
            imp = self,
            "{name}: {old:?} -> {:?}",
            property_of(&s, name)
        );
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        property_of(&self.settings.lock().unwrap(), pspec.name())
    }
}

fn property_of(s: &Settings, name: &str) -> glib::Value {
    match name {
        "output" => s.live.output.to_value(),
        "alpha" => s.live.alpha.to_value(),
        "transparent-background" => s.live.transparent_background.to_value(),
        "palette" => s.palette.to_value(),
        "threshold" => s.live.threshold.to_value(),
        "interval" => s.live.interval.to_value(),
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
                "Filter/Effect/Video",
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
        let settings = self.settings.lock().unwrap().clone();
        let (session, pre) = start_session(self.obj().upcast_ref(), *CAT, &settings.model)?;
        let description = session.description();
        let model_file = settings.model.model_file.clone().unwrap_or_default();
        let fail = |why: String| {
            gst::error_msg!(
                gst::LibraryError::Settings,
                (
                    "model '{}' is not a segmentation model: {why}",
                    model_file.display()
                )
            )
        };
        check_kind(description.kind(), MODEL_KIND).map_err(fail)?;
        let output = description
            .outputs
            .first()
            .expect("validated: at least one output");
        let declared = output.shape.get(1).copied().unwrap_or(0);
        let class_names: Vec<String> = match description.metadata.get("class_names") {
            Some(names) => names.split(',').map(|n| n.trim().to_owned()).collect(),
            None if declared > 0 => (0..declared).map(|i| format!("class{i}")).collect(),
            None => {
                return Err(fail(
                    "its class count is dynamic and it has no 'class_names'".into(),
                ));
            }
        };
        let classes = class_names.len().max(2); // a binary model has background and foreground
        if output.shape.len() != 4
            || !(declared <= 0 || declared == 1 || declared as usize == class_names.len())
        {
            return Err(fail(format!(
                "output '{}' is {}; expected [1,K,H,W] with K = {} classes (or 1 for a binary model)",
                output.name,
                crate::core::model::format_shape(&output.shape),
                class_names.len()
            )));
        }
        let (palette_key, palette) =
            match (&settings.palette, description.metadata.get("class_colors")) {
                (Some(p), _) => ("property 'palette'", Palette::parse("palette", p)),
                (None, Some(p)) => (
                    "metadata key 'class_colors'",
                    Palette::parse("class_colors", p),
                ),
                (None, None) => ("", Ok(Palette::distinct(classes))),
            };
        let palette = palette.map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("{e}")))?;
        if palette.0.len() < classes {
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                (
                    "the palette ({palette_key}) has {} colours for {classes} classes",
                    palette.0.len()
                )
            ));
        }
        let binary = match description.metadata.get("output").map(String::as_str) {
            Some("logits") => BinaryScores::Logit,
            None | Some("softmax" | "sigmoid" | "probabilities") => BinaryScores::Probability,
            Some(other) => {
                return Err(fail(format!(
                    "metadata key 'output' is '{other}'; expected 'softmax', 'sigmoid', 'probabilities' or 'logits'"
                )));
            }
        };
        let input = TensorInput::new(&description.input, &pre, settings.model.inference_scale);
        self.threshold.set(settings.live.threshold as f32);
        let active = session.provider().name().to_owned();
        let task = SegmentationTask {
            binary,
            threshold: self.threshold.clone(),
        };
        *self.state.lock().unwrap() = Some(State {
            runner: start_runner(
                self.obj().upcast_ref(),
                *CAT,
                &settings.model,
                session,
                task,
            )?,
            input,
            class_names,
            palette,
            frame_ids: Vec::new(),
            fractions: Vec::new(),
            drawn: None,
            columns: Vec::new(),
            frames: 0,
            caps: None,
        });
        self.settings.lock().unwrap().model.active_provider = active;
        self.schedule.reset();
        self.non_finite.reset();
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let Err(e) = self.schedule.sink_event(self, &event) {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{e}"));
        }
        if let gst::EventView::Eos(_) = event.view()
            && let Some(state) = self.state.lock().unwrap().as_ref()
        {
            finish_at_eos(self.obj().upcast_ref(), &state.runner);
        }
        self.parent_sink_event(event)
    }

    fn src_event(&self, event: gst::Event) -> bool {
        match self.schedule.src_event(self.obj().upcast_ref(), event) {
            Ok(handled) => handled,
            Err(event) => self.parent_src_event(event),
        }
    }

    fn submit_input_buffer(
        &self,
        is_discont: bool,
        inbuf: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        live::submit_input_buffer(self, is_discont, inbuf)
    }

    fn generate_output(
        &self,
    ) -> Result<gst_base::subclass::base_transform::GenerateOutputSuccess, gst::FlowError> {
        live::generate_output(self)
    }

    fn before_transform(&self, inbuf: &gst::BufferRef) {
        sync_controlled(self.obj().upcast_ref(), inbuf);
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        self.schedule.reset();
        self.settings.lock().unwrap().model.active_provider.clear();
        Ok(())
    }

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let classes = self.settings.lock().unwrap().live.output == Output::Classes;
        Some(analysis::transform_caps(direction, caps, filter, classes))
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let caps = analysis::negotiate(self.obj().upcast_ref(), incaps, outcaps)
            .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
        let mut state = self.state.lock().unwrap();
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps set before start"))?;
        let tensor = state
            .input
            .layout(caps.0.width() as usize, caps.0.height() as usize);
        state.caps = Some(caps);
        state.frames = 0;
        let took = state
            .runner
            .warm_up(tensor)
            .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
        let framerate = state
            .caps
            .as_ref()
            .map_or(gst::Fraction::new(0, 1), |c| c.0.fps());
        let settings = self.settings.lock().unwrap().clone();
        self.schedule.configure(
            self.obj().upcast_ref(),
            *CAT,
            framerate,
            took,
            !settings.model.non_blocking && settings.live.interval == 1,
        );
        Ok(())
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        let answered = BaseTransformImplExt::parent_query(self, direction, query);
        if answered && direction == gst::PadDirection::Src {
            self.schedule.latency().add_to(query);
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
        analysis::output_size(othercaps)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (settings, infer) = self.frame_settings();
        let mut state = self.state.lock().unwrap();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (info, _) = state.caps.clone().ok_or(gst::FlowError::NotNegotiated)?;
        {
            let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &info)
                .map_err(|_| gst::FlowError::Error)?;
            let mut image = analysis::image_mut(&mut frame, &info)?;
            if !self.classify(state, &settings, infer, &image.as_ref())? {
                return Ok(gst::FlowSuccess::Ok); // non-blocking, no result yet: unchanged
            }
            let (alpha, skip) = match settings.output {
                Output::Mask => (1.0, false),
                _ => (settings.alpha as f32, settings.transparent_background),
            };
            draw_classes(&mut image, &state.frame_ids, &state.palette, alpha, skip);
        }
        self.publish(state, &settings, buf);
        Ok(gst::FlowSuccess::Ok)
    }

    fn transform(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (settings, infer) = self.frame_settings();
        let mut state = self.state.lock().unwrap();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (in_info, out_info) = state.caps.clone().ok_or(gst::FlowError::NotNegotiated)?;
        {
            let in_frame =
                gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), &in_info)
                    .map_err(|_| gst::FlowError::Error)?;
            let image = analysis::image_ref(&in_frame, &in_info)?;
            if !self.classify(state, &settings, infer, &image)? {
                // Non-blocking, no result yet: all background.
                analysis::write_gray8(outbuf, &out_info, |data, _| data.fill(0))?;
                return Ok(gst::FlowSuccess::Ok);
            }
        }
        let width = out_info.width() as usize;
        analysis::write_gray8(outbuf, &out_info, |data, stride| {
            for (row, ids) in data
                .chunks_mut(stride)
                .zip(state.frame_ids.chunks_exact(width))
            {
                row[..width].copy_from_slice(ids);
            }
        })?;
        self.publish(state, &settings, outbuf);
        Ok(gst::FlowSuccess::Ok)
    }
}

impl Segmentation {
    /// The settings each frame reads, and how its inference goes (due is decided later).
    fn frame_settings(&self) -> (Live, InferMode) {
        let s = self.settings.lock().unwrap();
        let infer = InferMode {
            due: false,
            non_blocking: s.model.non_blocking,
            wait_first_result: s.model.wait_first_result,
        };
        (s.live, infer)
    }

    /// Runs inference on this frame when due (every `interval` frames; in non-blocking mode
    /// when the inference thread is free) and brings `state.frame_ids` up to date with the
    /// newest result. Returns false while there is no result yet.
    fn classify(
        &self,
        state: &mut State,
        settings: &Live,
        mut infer: InferMode,
        image: &ImageRef,
    ) -> Result<bool, gst::FlowError> {
        let phase = self.schedule.phase();
        infer.due =
            phase == Phase::Infer && analysis::inference_due(state.frames, settings.interval);
        if phase == Phase::Infer {
            state.frames += 1;
        }
        let State {
            runner,
            input,
            frame_ids,
            fractions,
            drawn,
            columns,
            class_names,
            ..
        } = state;
        let (width, height) = (image.width, image.height);
        let result = infer_frame(runner, input, image, infer).map(drop);
        let result = result.and_then(|()| {
            runner.with_latest(|latest| {
                let Some(latest) = latest else {
                    return false;
                };
                let wanted = Some((latest.generation, width, height));
                if *drawn != wanted {
                    latest
                        .output
                        .scale_nearest_into(width, height, frame_ids, columns);
                    class_fractions(frame_ids, class_names.len().max(2), fractions);
                    *drawn = wanted;
                }
                true
            })
        });
        if infer.due || phase == Phase::DrawHeld {
            self.non_finite.check(self.obj().upcast_ref(), runner);
        }
        result.map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{e}"));
            gst::FlowError::Error
        })
    }

    /// Attaches the class fractions to the buffer and posts them when asked to.
    fn publish(&self, state: &State, settings: &Live, buf: &mut gst::BufferRef) {
        let structure = |name: &str| {
            gst::Structure::builder(name)
                .field(
                    "class-names",
                    gst::Array::new(state.class_names.iter().map(String::as_str)),
                )
                .field(
                    "fractions",
                    gst::Array::new(state.fractions.iter().copied()),
                )
                .build()
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

/// Registers the custom meta (copied along with buffer copies).
impl Scheduled for Segmentation {
    fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn frame_cost(&self) -> FrameCost {
        let (settings, infer) = self.frame_settings();
        let state = self.state.lock().unwrap();
        state.as_ref().map_or_else(FrameCost::default, |state| {
            FrameCost::of(
                &state.runner,
                state.frames,
                settings.interval,
                infer.non_blocking,
            )
        })
    }

    fn start_inference(&self, frame: &gst::BufferRef) -> Result<(), gst::FlowError> {
        let mut state = self.state.lock().unwrap();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (info, _) = state.caps.clone().ok_or(gst::FlowError::NotNegotiated)?;
        state.frames += 1;
        live::start_frame_inference(
            self.obj().upcast_ref(),
            &mut state.runner,
            &mut state.input,
            &info,
            frame,
        )
        .map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{e}"));
            gst::FlowError::Error
        })
    }

    fn wait_inference(&self) -> Result<(), gst::FlowError> {
        let state = self.state.lock().unwrap();
        let state = state.as_ref().ok_or(gst::FlowError::Flushing)?;
        state.runner.finish().map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{e}"));
            gst::FlowError::Error
        })
    }

    fn inference_idle(&self) -> bool {
        self.state
            .lock()
            .unwrap()
            .as_ref()
            .is_none_or(|s| s.runner.is_idle())
    }
}

pub(super) fn register_meta() {
    analysis::register_structure_meta(META_NAME);
}
