// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxstyletransfer: runs an image-to-image ONNX model (fast style transfer, any autoencoder
//! whose output is an image) on every frame and writes its output back into the frame.
//!
//! ```text
//! gst-launch-1.0 videotestsrc ! videoconvert ! \
//!     onnxstyletransfer model-file=models/pencil_sketch.onnx strength=0.8 ! \
//!     videoconvert ! autovideosink
//! ```

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use crate::common::analysis::inference_due;
use crate::common::live::{self, FrameCost, Phase, Schedule, Scheduled};
use crate::common::model_settings::{ModelSettings, start_runner, start_session};
use crate::common::non_finite::NonFiniteWarning;
use crate::common::{
    InferMode, VIDEO_FORMATS, check_kind, finish_at_eos, infer_frame, pixel_layout,
    refuse_while_running, sync_controlled,
};
use crate::core::{
    DecodedImage, ImageMut, ImageOutput, PixelLayout, RunOutput, Runner, Task, TensorInput,
    TensorLayout, decode_image,
};

const DEFAULT_STRENGTH: f64 = 1.0;
const DEFAULT_INTERVAL: u32 = 1;
/// The metadata `kind` of the models this element runs (models without `kind` are accepted).
const MODEL_KIND: &str = "style";

#[derive(Debug, Clone)]
struct Settings {
    model: ModelSettings,
    strength: f64,
    interval: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: ModelSettings::default(),
            strength: DEFAULT_STRENGTH,
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// Keeps the frame's part of the model's image output (on the inference thread in
/// non-blocking mode).
struct StyleTask;

impl Task for StyleTask {
    type Output = DecodedImage;

    fn read(
        &mut self,
        run: &RunOutput,
        layout: TensorLayout,
        out: &mut DecodedImage,
    ) -> Result<(), String> {
        decode_image(run.shape, run.values, layout, out)
    }
}

struct State {
    runner: Runner<StyleTask>,
    input: TensorInput,
    output: ImageOutput,
    /// Set from the negotiated caps.
    layout: Option<PixelLayout>,
    info: Option<gst_video::VideoInfo>,
    /// Frames seen since the caps were set (inference runs when `frames % interval == 0`).
    frames: u64,
}

#[derive(Default)]
pub struct StyleTransfer {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    schedule: Schedule,
    non_finite: NonFiniteWarning,
}

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onnxstyletransfer",
        gst::DebugColorFlags::empty(),
        Some("ONNX image-to-image (style transfer) element"),
    )
});

#[glib::object_subclass]
impl ObjectSubclass for StyleTransfer {
    const NAME: &'static str = "GstOnnxStyleTransfer";
    type Type = super::StyleTransfer;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for StyleTransfer {
    fn constructed(&self) {
        self.parent_constructed();
        // Late frames are dropped before inference when the sink reports them (QoS events).
        gst_base::prelude::BaseTransformExt::set_qos(&*self.obj(), true);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = ModelSettings::properties();
            props.push(
                glib::ParamSpecDouble::builder("strength")
                    .nick("Strength")
                    .blurb("Blend of the model's output over the original frame (0 = original, 1 = model output)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_STRENGTH)
                    .mutable_playing()
                    .controllable()
                    .build(),
            );
            props.push(
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb(
                        "Infer every N-th frame and draw the last output on the frames in between",
                    )
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_playing()
                    .build(),
            );
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let name = pspec.name();
        if refuse_while_running(self.obj().upcast_ref(), *CAT, pspec) {
            return;
        }
        let mut settings = self.settings.lock().unwrap();
        let old = self.property_of(&settings, name);
        match name {
            "strength" => settings.strength = value.get().expect("type checked upstream"),
            "interval" => settings.interval = value.get().expect("type checked upstream"),
            _ => settings.model.set(name, value),
        }
        gst::info!(
            CAT,
            imp = self,
            "{name}: {old:?} -> {:?}",
            self.property_of(&settings, name)
        );
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        self.property_of(&settings, pspec.name())
    }
}

impl StyleTransfer {
    fn property_of(&self, settings: &Settings, name: &str) -> glib::Value {
        match name {
            "strength" => settings.strength.to_value(),
            "interval" => settings.interval.to_value(),
            _ => settings.model.get(name),
        }
    }
}

impl GstObjectImpl for StyleTransfer {}

impl ElementImpl for StyleTransfer {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "ONNX style transfer",
                "Filter/Effect/Video",
                "Runs an image-to-image ONNX model (e.g. fast neural style transfer) on every \
                 frame through ONNX Runtime and writes its output into the frame",
                "gst-plugin-autoencoder developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(VIDEO_FORMATS)
                .build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for StyleTransfer {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let mut settings = self.settings.lock().unwrap().clone();
        let (session, pre) = start_session(self.obj().upcast_ref(), *CAT, &settings.model)?;
        let description = session.description();
        let model_file = settings.model.model_file.clone().unwrap_or_default();
        let not_image_to_image = |why: String| {
            gst::error_msg!(
                gst::LibraryError::Settings,
                (
                    "model '{}' is not an image-to-image model: {why}",
                    model_file.display()
                )
            )
        };
        check_kind(description.kind(), MODEL_KIND).map_err(not_image_to_image)?;
        let output = description
            .outputs
            .first()
            .expect("validated: at least one output");
        output.expect_image(3).map_err(not_image_to_image)?;
        let input = TensorInput::new(&description.input, &pre, settings.model.inference_scale);
        settings.model.active_provider = session.provider().name().to_owned();
        let task = StyleTask;
        let state = State {
            runner: start_runner(
                self.obj().upcast_ref(),
                *CAT,
                &settings.model,
                session,
                task,
            )?,
            input,
            output: ImageOutput::new(&pre),
            layout: None,
            info: None,
            frames: 0,
        };
        self.settings.lock().unwrap().model.active_provider = settings.model.active_provider;
        self.schedule.reset();
        self.non_finite.reset();
        *self.state.lock().unwrap() = Some(state);
        Ok(())
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        let answered = BaseTransformImplExt::parent_query(self, direction, query);
        if answered && direction == gst::PadDirection::Src {
            self.schedule.latency().add_to(query);
        }
        answered
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
        // Dropping the runner joins its inference thread, if any.
        *self.state.lock().unwrap() = None;
        self.schedule.reset();
        self.settings.lock().unwrap().model.active_provider.clear();
        Ok(())
    }
}

impl VideoFilterImpl for StyleTransfer {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        _outcaps: &gst::Caps,
        _out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let layout = pixel_layout(in_info.format())
            .ok_or_else(|| gst::loggable_error!(CAT, "unsupported caps {incaps}"))?;
        let mut state = self.state.lock().unwrap();
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps set before start"))?;
        state.layout = Some(layout);
        state.info = Some(in_info.clone());
        state.frames = 0;
        let tensor = state
            .input
            .layout(in_info.width() as usize, in_info.height() as usize);
        let took = state
            .runner
            .warm_up(tensor)
            .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
        let settings = self.settings.lock().unwrap().clone();
        self.schedule.configure(
            self.obj().upcast_ref(),
            *CAT,
            in_info.fps(),
            took,
            !settings.model.non_blocking && settings.interval == 1,
        );
        gst::debug!(
            CAT,
            imp = self,
            "configured for {incaps}; model input {}x{}, one inference {took:?}",
            tensor.tensor.width,
            tensor.tensor.height
        );
        Ok(())
    }

    fn transform_frame_ip(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (strength, interval, non_blocking, wait_first_result) = {
            let s = self.settings.lock().unwrap();
            let m = &s.model;
            (
                s.strength as f32,
                s.interval,
                m.non_blocking,
                m.wait_first_result,
            )
        };
        if strength <= 0.0 {
            return Ok(gst::FlowSuccess::Ok);
        }
        let phase = self.schedule.phase();
        let mut state = self.state.lock().unwrap();
        let State {
            runner,
            input,
            output,
            layout,
            frames,
            ..
        } = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let layout = layout.ok_or(gst::FlowError::NotNegotiated)?;
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let stride = frame.plane_stride()[0] as usize;
        let data = frame.plane_data_mut(0).map_err(|_| gst::FlowError::Error)?;
        let mut image = ImageMut {
            data,
            width,
            height,
            stride,
            layout,
        };
        let mode = InferMode {
            due: phase == Phase::Infer && inference_due(*frames, interval),
            non_blocking,
            wait_first_result,
        };
        if phase == Phase::Infer {
            *frames += 1;
        }
        let inferred = infer_frame(runner, input, &image.as_ref(), mode);
        let result = inferred.and_then(|_| {
            runner
                .with_latest(|latest| match latest {
                    Some(latest) => output.draw(latest.output, &mut image, strength),
                    None => Ok(()), // non-blocking, before the first result: unchanged
                })
                .and_then(|drawn| drawn)
        });
        if mode.due || phase == Phase::DrawHeld {
            self.non_finite.check(self.obj().upcast_ref(), runner);
        }
        result.map(|()| gst::FlowSuccess::Ok).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{e}"));
            gst::FlowError::Error
        })
    }
}

impl Scheduled for StyleTransfer {
    fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn frame_cost(&self) -> FrameCost {
        let (interval, non_blocking) = {
            let s = self.settings.lock().unwrap();
            (s.interval, s.model.non_blocking)
        };
        let state = self.state.lock().unwrap();
        state.as_ref().map_or_else(FrameCost::default, |state| {
            FrameCost::of(&state.runner, state.frames, interval, non_blocking)
        })
    }

    fn start_inference(&self, frame: &gst::BufferRef) -> Result<(), gst::FlowError> {
        let mut state = self.state.lock().unwrap();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
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
