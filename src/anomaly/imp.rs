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

use crate::common::element::{ElementCore, FrameSettings, Started, stream_error};
use crate::common::live::{self, FrameCost, Scheduled};
use crate::common::model_settings::ModelSettings;
use crate::common::{analysis, refuse_while_running};
use crate::inference::anomaly::{
    ErrorMap, HeatmapStyle, Planes, draw_heatmap, reconstruction_size, write_error_gray8,
};
use crate::inference::error::shown;
use crate::inference::model::{DEFAULT_MAP_SCALE, MapOutputs, ModelDescription};
use crate::inference::resize::Resizer;
use crate::inference::{Error, ImageRef, Preprocessing, RunOutput, Task, TensorLayout};

/// The name of the custom meta on every output buffer: a structure with `score` (f64, in
/// units of `error-scale`), `threshold` (f64), `anomalous` (bool: score >= threshold) and
/// `timestamp` (the buffer's PTS).
pub const META_NAME: &std::ffi::CStr = c"GstAutoencoderAnomalyMeta";
/// The structure name of the element message posted each time the score crosses `threshold`
/// (either way); same fields as the meta.
pub const MESSAGE_NAME: &str = "autoencoder-anomaly";
const MODEL_KIND: &str = "anomaly";

const DEFAULT_ALPHA: f64 = 0.6;
const DEFAULT_THRESHOLD: f64 = 2.0;
const DEFAULT_MAX_ERROR: f64 = 6.0;
const DEFAULT_PERCENTILE: f64 = 99.0;
const DEFAULT_INTERVAL: u32 = 1;

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderAnomalyOutput")]
/// What `onnxanomaly` writes into the stream (its `output` property).
pub enum Output {
    /// The error heatmap blended over the frame with `alpha` (the default).
    #[default]
    #[enum_value(name = "Heatmap blended over the frame with 'alpha'", nick = "overlay")]
    Overlay,
    /// The heatmap alone, over black.
    #[enum_value(name = "The heatmap alone", nick = "heatmap")]
    Heatmap,
    /// A GRAY8 error map: 0 at no error, 255 at `max-error` and above.
    #[enum_value(name = "A GRAY8 error map (255 at max-error)", nick = "error")]
    Error,
}

#[derive(Debug, Clone, Default)]
struct Settings {
    model: ModelSettings,
    error_scale: f64,
    live: PerFrame,
}

/// The settings each frame reads, copied out under the lock (`output` among them, which only
/// changes in READY).
#[derive(Debug, Clone, Copy)]
struct PerFrame {
    output: Output,
    alpha: f64,
    threshold: f64,
    max_error: f64,
    score_percentile: f64,
    interval: u32,
}

impl Default for PerFrame {
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
    /// The model's own map (and score) outputs, when it gives a map, not a reconstruction.
    map: Option<MapOutputs>,
}

impl AnomalyTask {
    fn new(
        pre: &Preprocessing,
        error_scale: f32,
        ssim_weight: f32,
        map: Option<MapOutputs>,
    ) -> Self {
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
            map,
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
    ) -> Result<(), Error> {
        if self.map.is_some() {
            return out.take_map(
                (run.shape, run.values),
                (layout.tensor, layout.content),
                self.error_scale,
                run.second.map(|(_, values)| values),
            );
        }
        let (tw, th) = (layout.tensor.width, layout.tensor.height);
        let (ow, oh) = reconstruction_size(run.shape, run.values.len())?;
        if (ow, oh) != (tw, th) {
            return Err(Error::inference(format!(
                "the reconstruction is {ow}x{oh} for a {tw}x{th} input; an anomaly autoencoder must keep the size"
            )));
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

    fn outputs(&self) -> Option<(&str, Option<&str>)> {
        self.map
            .as_ref()
            .map(|m| (m.map.as_str(), m.score.as_deref()))
    }
}

/// What the element keeps of its own while started.
#[derive(Default)]
struct Own {
    /// The newest error map at frame size, and its score.
    map: ErrorMap,
    score: f32,
    resizer: Resizer,
    score_scratch: Vec<f32>,
    /// Whether the last score was at or above the threshold (messages go on crossings).
    anomalous: bool,
}

type State = Started<AnomalyTask, Own>;

/// The element's implementation: its settings, and the inference state while started.
#[derive(Default)]
pub struct Anomaly {
    settings: Mutex<Settings>,
    core: ElementCore<AnomalyTask, Own>,
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
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
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
                "Filter/Analyzer/Video",
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
        let settings = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let active = self.core.start(
            self.obj().upcast_ref(),
            *CAT,
            &settings.model,
            MODEL_KIND,
            "an anomaly autoencoder",
            |description, pre, not_this| {
                let model_file = settings.model.model_path();
                let task = prepare(
                    description,
                    pre,
                    &model_file,
                    settings.error_scale,
                    not_this,
                )?;
                Ok((task, Own::default()))
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
        let gray = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .live
            .output
            == Output::Error;
        let output = if gray {
            analysis::OutputFormats::Gray8
        } else {
            analysis::OutputFormats::Same
        };
        Some(analysis::transform_caps(direction, caps, filter, output))
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
            if !self.measure(state, &settings, frame_settings, &image.as_ref())? {
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
            draw_heatmap(&mut image, &state.own.map, &style);
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
        {
            let frame =
                gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), &in_info)
                    .map_err(|_| gst::FlowError::Error)?;
            if !self.measure(
                state,
                &settings,
                frame_settings,
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
                &state.own.map,
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
    /// The settings each frame reads.
    fn frame_settings(&self) -> (PerFrame, FrameSettings) {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        (s.live, FrameSettings::new(&s.model, s.live.interval))
    }

    /// Runs inference on this frame when due and brings the frame-size error map and the
    /// score up to date with the newest result. Returns false while there is no result.
    fn measure(
        &self,
        state: &mut State,
        settings: &PerFrame,
        frame_settings: FrameSettings,
        image: &ImageRef,
    ) -> Result<bool, gst::FlowError> {
        let element = self.obj();
        let element: &gst::Element = element.upcast_ref();
        self.core.infer(element, state, frame_settings, image)?;
        let (width, height) = (image.width, image.height);
        state
            .derive_from_newest(width, height, |map, own| {
                // The score comes from the model-resolution map, as models/ computes it.
                own.score = match map.model_score {
                    Some(score) => score,
                    None => map.score(settings.score_percentile as f32, &mut own.score_scratch),
                };
                map.resize_into(width, height, &mut own.map, &mut own.resizer)
            })
            .map_err(|e| stream_error(element, &state.explain(e)))
    }

    /// Attaches the score to the buffer, and posts a message when it crosses the threshold.
    fn publish(&self, state: &mut State, settings: &PerFrame, buf: &mut gst::BufferRef) {
        // GStreamer >= 1.26: the error map at model resolution as a standard tensor.
        #[cfg(feature = "v1_26")]
        if let Some(Err(e)) = state.runner.with_latest(|latest| {
            latest.map(|latest| {
                let map = &latest.output;
                crate::common::analytics::attach_tensor(
                    buf,
                    crate::common::analytics::tensor_ids::ANOMALY_ERROR,
                    (1, map.height, map.width),
                    &map.values,
                )
            })
        }) {
            gst::warning!(CAT, imp = self, "could not attach the error tensor: {e}");
        }
        let state = &mut state.own;
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
        // GStreamer >= 1.26: the decision and score as a standard ClsMtd too.
        #[cfg(feature = "v1_26")]
        if let Err(e) = crate::common::analytics::attach_anomaly(buf, state.score, anomalous) {
            gst::warning!(CAT, imp = self, "could not attach the analytics meta: {e}");
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

/// Checks that the model reconstructs an image and reads its calibration (`error_scale`,
/// overridden by the property when > 0, and `error_ssim_weight`).
fn prepare(
    description: &ModelDescription,
    pre: &Preprocessing,
    model_file: &std::path::Path,
    error_scale_property: f64,
    not_this: &dyn Fn(String) -> gst::ErrorMessage,
) -> Result<AnomalyTask, gst::ErrorMessage> {
    let contract = description.anomaly().map_err(|e| not_this(e.to_string()))?;
    let error_scale = match (error_scale_property, contract.error_scale, &contract.map) {
        (s, _, _) if s > 0.0 => s as f32,
        (_, Some(s), _) => s,
        (_, None, Some(_)) => DEFAULT_MAP_SCALE,
        _ => {
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                (
                    "model '{}' has no 'error_scale' (the error level of normal data); set the \
                     property error-scale",
                    shown(model_file)
                )
            ));
        }
    };
    Ok(AnomalyTask::new(
        pre,
        error_scale,
        contract.ssim_weight,
        contract.map,
    ))
}

/// Registers the custom meta (copied along with buffer copies).
pub(super) fn register_meta() {
    analysis::register_structure_meta(META_NAME);
}
