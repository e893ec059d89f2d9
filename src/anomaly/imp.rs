// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxanomaly: runs an autoencoder trained on normal images and turns its reconstruction error
//! into a heatmap over the frame, a heatmap alone, or a GRAY8 error map. Every buffer carries
//! the frame's anomaly score (`GstAutoencoderAnomalyMeta`), and an `autoencoder-anomaly`
//! element message is posted each time the score crosses `threshold`.
//!
//! ```text
//! gst-launch-1.0 filesrc location=line.mp4 ! decodebin ! videoconvert ! \
//!     onnxanomaly model-file=models/anomaly_brick.onnx threshold=2 ! \
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
    InferMode, analysis, check_kind, finish_at_eos, infer_frame, refuse_while_running,
    sync_controlled,
};
use crate::core::anomaly::{
    ErrorMap, HeatmapStyle, Planes, draw_heatmap, reconstruction_size, write_error_gray8,
};
use crate::core::resize::RgbResizer;
use crate::core::{ImageRef, Preprocessing, RunOutput, Runner, Task, TensorInput, TensorLayout};

pub const META_NAME: &std::ffi::CStr = c"GstAutoencoderAnomalyMeta";
pub const MESSAGE_NAME: &str = "autoencoder-anomaly";
const MODEL_KIND: &str = "anomaly";

const DEFAULT_ALPHA: f64 = 0.6;
const DEFAULT_THRESHOLD: f64 = 2.0;
const DEFAULT_MAX_ERROR: f64 = 6.0;
const DEFAULT_PERCENTILE: f64 = 99.0;
const DEFAULT_INTERVAL: u32 = 1;
const DEFAULT_SSIM_WEIGHT: f32 = 0.5;

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderAnomalyOutput")]
pub enum Output {
    #[default]
    #[enum_value(name = "Heatmap blended over the frame with 'alpha'", nick = "overlay")]
    Overlay,
    #[enum_value(name = "The heatmap alone", nick = "heatmap")]
    Heatmap,
    #[enum_value(name = "A GRAY8 error map (255 at max-error)", nick = "error")]
    Error,
}

#[derive(Debug, Clone, Default)]
struct Settings {
    model: ModelSettings,
    error_scale: f64,
    live: Live,
}

/// The settings each frame reads, copied out under the lock (output only changes in READY).
#[derive(Debug, Clone, Copy)]
struct Live {
    output: Output,
    alpha: f64,
    threshold: f64,
    max_error: f64,
    score_percentile: f64,
    interval: u32,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            output: Output::Overlay,
            alpha: DEFAULT_ALPHA,
            threshold: DEFAULT_THRESHOLD,
            max_error: DEFAULT_MAX_ERROR,
            score_percentile: DEFAULT_PERCENTILE,
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// Computes the error map at model resolution (on the inference thread in non-blocking mode).
struct AnomalyTask {
    /// Per tensor channel, (scale, offset) into 0..1 for the input and the reconstruction.
    input_to_unit: [(f32, f32); 3],
    output_to_unit: [(f32, f32); 3],
    error_scale: f32,
    ssim_weight: f32,
}

impl AnomalyTask {
    fn new(pre: &Preprocessing, error_scale: f32, ssim_weight: f32) -> Self {
        let input_to_unit = std::array::from_fn(|c| {
            let k = pre.channel_order.rgb_index(c);
            let range = pre.input_range.full_scale();
            (pre.std[k] / range, pre.mean[k] / range)
        });
        Self {
            input_to_unit,
            output_to_unit: [(1.0 / pre.output_range.full_scale(), 0.0); 3],
            error_scale,
            ssim_weight,
        }
    }
}

impl Task for AnomalyTask {
    type Output = ErrorMap;

    fn read(
        &mut self,
        run: &RunOutput,
        layout: TensorLayout,
        out: &mut ErrorMap,
    ) -> Result<(), String> {
        let (tw, th) = (layout.tensor.width, layout.tensor.height);
        let (ow, oh) = reconstruction_size(run.shape, run.values.len())?;
        if (ow, oh) != (tw, th) {
            return Err(format!(
                "the reconstruction is {ow}x{oh} for a {tw}x{th} input; an anomaly autoencoder must keep the size"
            ));
        }
        let planes = |values, to_unit| Planes {
            values,
            plane_width: tw,
            plane_height: th,
            to_unit,
        };
        out.compute(
            &planes(run.input, self.input_to_unit),
            &planes(run.values, self.output_to_unit),
            layout.content.width,
            layout.content.height,
            self.ssim_weight,
            self.error_scale,
        )
    }
}

struct State {
    runner: Runner<AnomalyTask>,
    input: TensorInput,
    /// The newest error map at frame size, its score, and which result and frame size they
    /// were made for.
    map: ErrorMap,
    score: f32,
    drawn: Option<(u64, usize, usize)>,
    resizer: RgbResizer,
    score_scratch: Vec<f32>,
    /// Whether the last score was at or above the threshold (messages go on crossings).
    anomalous: bool,
    /// Frames seen since the caps were set.
    frames: u64,
    caps: Option<(gst_video::VideoInfo, gst_video::VideoInfo)>,
}

#[derive(Default)]
pub struct Anomaly {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    schedule: Schedule,
    non_finite: NonFiniteWarning,
}

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onnxanomaly",
        gst::DebugColorFlags::empty(),
        Some("ONNX anomaly (reconstruction error) element"),
    )
});

#[glib::object_subclass]
impl ObjectSubclass for Anomaly {
    const NAME: &'static str = "GstOnnxAnomaly";
    type Type = super::Anomaly;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for Anomaly {
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
                    .blurb("What the element outputs: heatmap overlay, heatmap alone, or GRAY8 error")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("alpha")
                    .nick("Alpha")
                    .blurb("Opacity of the heatmap over the frame")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_ALPHA)
                    .mutable_playing()
                    .controllable()
                    .build(),
                glib::ParamSpecDouble::builder("threshold")
                    .nick("Threshold")
                    .blurb("Error level, in units of the error scale (the error of normal data), below which pixels stay clear and at which the frame score counts as anomalous")
                    .minimum(0.0)
                    .maximum(1000.0)
                    .default_value(DEFAULT_THRESHOLD)
                    .mutable_playing()
                    .controllable()
                    .build(),
                glib::ParamSpecDouble::builder("max-error")
                    .nick("Maximum error")
                    .blurb("Error level (in error-scale units) at the top of the colour map and at 255 in the error output")
                    .minimum(0.001)
                    .maximum(1000.0)
                    .default_value(DEFAULT_MAX_ERROR)
                    .mutable_playing()
                    .controllable()
                    .build(),
                glib::ParamSpecDouble::builder("error-scale")
                    .nick("Error scale")
                    .blurb("The error level of normal data (overrides the model's 'error_scale'; 0: the model's)")
                    .minimum(0.0)
                    .maximum(1000.0)
                    .default_value(0.0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("score-percentile")
                    .nick("Score percentile")
                    .blurb("The frame's anomaly score is this percentile of its per-pixel error")
                    .minimum(0.0)
                    .maximum(100.0)
                    .default_value(DEFAULT_PERCENTILE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Infer every N-th frame and reuse the last error map in between")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_INTERVAL)
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
        let get = || value.get::<f64>().expect("type checked upstream");
        match name {
            "output" => s.live.output = value.get().expect("type checked upstream"),
            "alpha" => s.live.alpha = get(),
            "threshold" => s.live.threshold = get(),
            "max-error" => s.live.max_error = get(),
            "error-scale" => s.error_scale = get(),
            "score-percentile" => s.live.score_percentile = get(),
            "interval" => s.live.interval = value.get().expect("type checked upstream"),
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
        "threshold" => s.live.threshold.to_value(),
        "max-error" => s.live.max_error.to_value(),
        "error-scale" => s.error_scale.to_value(),
        "score-percentile" => s.live.score_percentile.to_value(),
        "interval" => s.live.interval.to_value(),
        _ => s.model.get(name),
    }
}

impl GstObjectImpl for Anomaly {}

impl ElementImpl for Anomaly {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "ONNX anomaly heatmap",
                "Filter/Effect/Video",
                "Runs an autoencoder trained on normal images on every frame and shows where \
                 its reconstruction fails as a heatmap, with a per-frame anomaly score",
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

impl BaseTransformImpl for Anomaly {
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
                    "model '{}' is not an anomaly autoencoder: {why}",
                    model_file.display()
                )
            )
        };
        check_kind(description.kind(), MODEL_KIND).map_err(fail)?;
        let output = description
            .outputs
            .first()
            .expect("validated: at least one output");
        output.expect_image(3).map_err(fail)?;
        let number = |key: &str| -> Result<Option<f32>, gst::ErrorMessage> {
            description
                .metadata
                .get(key)
                .map(|v| {
                    v.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|x| x.is_finite() && *x >= 0.0)
                        .ok_or_else(|| {
                            gst::error_msg!(
                                gst::LibraryError::Settings,
                                ("metadata key '{key}' is '{v}'; expected a non-negative number")
                            )
                        })
                })
                .transpose()
        };
        let error_scale = match (settings.error_scale, number("error_scale")?) {
            (s, _) if s > 0.0 => s as f32,
            (_, Some(s)) if s > 0.0 => s,
            _ => {
                return Err(gst::error_msg!(
                    gst::LibraryError::Settings,
                    (
                        "model '{}' has no 'error_scale' (the error level of normal data); set the property error-scale",
                        model_file.display()
                    )
                ));
            }
        };
        let ssim_weight = number("error_ssim_weight")?.unwrap_or(DEFAULT_SSIM_WEIGHT);
        if ssim_weight > 1.0 {
            return Err(fail(format!(
                "metadata key 'error_ssim_weight' is {ssim_weight}; expected a number from 0 to 1"
            )));
        }
        let input = TensorInput::new(&description.input, &pre, settings.model.inference_scale);
        let active = session.provider().name().to_owned();
        let task = AnomalyTask::new(&pre, error_scale, ssim_weight);
        *self.state.lock().unwrap() = Some(State {
            runner: start_runner(
                self.obj().upcast_ref(),
                *CAT,
                &settings.model,
                session,
                task,
            )?,
            input,
            map: ErrorMap::default(),
            score: 0.0,
            drawn: None,
            resizer: RgbResizer::default(),
            score_scratch: Vec::new(),
            anomalous: false,
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
        let gray = self.settings.lock().unwrap().live.output == Output::Error;
        Some(analysis::transform_caps(direction, caps, filter, gray))
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
            if !self.measure(state, &settings, infer, &image.as_ref())? {
                return Ok(gst::FlowSuccess::Ok); // non-blocking, no result yet: unchanged
            }
            let style = HeatmapStyle {
                threshold: settings.threshold as f32,
                max_error: settings.max_error as f32,
                alpha: if settings.output == Output::Heatmap {
                    1.0
                } else {
                    settings.alpha as f32
                },
                alone: settings.output == Output::Heatmap,
            };
            draw_heatmap(&mut image, &state.map, &style);
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
            let frame =
                gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), &in_info)
                    .map_err(|_| gst::FlowError::Error)?;
            if !self.measure(
                state,
                &settings,
                infer,
                &analysis::image_ref(&frame, &in_info)?,
            )? {
                // Non-blocking, no result yet: no error.
                analysis::write_gray8(outbuf, &out_info, |data, _| data.fill(0))?;
                return Ok(gst::FlowSuccess::Ok);
            }
        }
        let (width, height) = (out_info.width() as usize, out_info.height() as usize);
        analysis::write_gray8(outbuf, &out_info, |data, stride| {
            write_error_gray8(
                &state.map,
                data,
                width,
                height,
                stride,
                settings.max_error as f32,
            );
        })?;
        self.publish(state, &settings, outbuf);
        Ok(gst::FlowSuccess::Ok)
    }
}

impl Anomaly {
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
    /// when the inference thread is free) and brings the frame-size error map and the score up
    /// to date with the newest result. Returns false while there is no result yet.
    fn measure(
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
            map,
            score,
            drawn,
            resizer,
            score_scratch,
            ..
        } = state;
        let (width, height) = (image.width, image.height);
        let result = infer_frame(runner, input, image, infer).map(drop);
        let result = result.and_then(|()| {
            runner
                .with_latest(|latest| {
                    let Some(latest) = latest else {
                        return Ok(false);
                    };
                    let wanted = Some((latest.generation, width, height));
                    if *drawn != wanted {
                        // The score comes from the model-resolution map, as models/ computes it.
                        *score = latest
                            .output
                            .score(settings.score_percentile as f32, score_scratch);
                        latest.output.resize_into(width, height, map, resizer)?;
                        *drawn = wanted;
                    }
                    Ok(true)
                })
                .and_then(|drawn| drawn)
        });
        if infer.due || phase == Phase::DrawHeld {
            self.non_finite.check(self.obj().upcast_ref(), runner);
        }
        result.map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{e}"));
            gst::FlowError::Error
        })
    }

    /// Attaches the score to the buffer, and posts a message when it crosses the threshold.
    fn publish(&self, state: &mut State, settings: &Live, buf: &mut gst::BufferRef) {
        let anomalous = state.score as f64 >= settings.threshold;
        let pts = buf.pts();
        let structure = |name: &str| {
            gst::Structure::builder(name)
                .field("score", state.score as f64)
                .field("threshold", settings.threshold)
                .field("anomalous", anomalous)
                .field("timestamp", pts)
                .build()
        };
        if let Err(e) =
            analysis::attach_structure(buf, META_NAME, &structure(&META_NAME.to_string_lossy()))
        {
            gst::warning!(CAT, imp = self, "could not attach the anomaly score: {e}");
        }
        if anomalous != state.anomalous {
            state.anomalous = anomalous;
            gst::info!(
                CAT,
                imp = self,
                "score {:.3} crossed threshold {} ({})",
                state.score,
                settings.threshold,
                if anomalous {
                    "anomalous"
                } else {
                    "normal again"
                }
            );
            let msg = gst::message::Element::builder(structure(MESSAGE_NAME))
                .src(&*self.obj())
                .build();
            let _ = self.obj().post_message(msg);
        }
    }
}

impl Scheduled for Anomaly {
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
