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

use crate::common::element::{ElementCore, FrameSettings, Started, stream_error};
use crate::common::live::{self, FrameCost, Scheduled};
use crate::common::model_settings::ModelSettings;
use crate::common::{VIDEO_FORMATS, pixel_layout, refuse_while_running, sync_controlled};
use crate::inference::{
    DecodedImage, Error, ImageMut, ImageOutput, RunOutput, Task, TensorLayout, decode_image,
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
    ) -> Result<(), Error> {
        decode_image(run.shape, run.values, 3, layout, out)
    }
}

/// What the element keeps of its own while started: how the output goes into frames.
type State = Started<StyleTask, ImageOutput>;

/// The element's implementation: its settings, and the inference state while started.
#[derive(Default)]
pub struct StyleTransfer {
    settings: Mutex<Settings>,
    core: ElementCore<StyleTask, ImageOutput>,
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
        let mut settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.property_of(&settings, name);
        match name {
            "strength" => settings.strength = value.get().expect("type checked upstream"),
            "interval" => settings.interval = value.get().expect("type checked upstream"),
            _ => settings.model.set(name, value, &self.obj().name()),
        }
        gst::info!(
            CAT,
            imp = self,
            "{name}: {old:?} -> {:?}",
            self.property_of(&settings, name)
        );
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
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
            "an image-to-image model",
            |description, pre, not_this| {
                description
                    .output()
                    .and_then(|output| output.expect_image(3))
                    .map_err(|e| not_this(e.to_string()))?;
                Ok((StyleTask, ImageOutput::new(pre)))
            },
        )?;
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .model
            .active_provider = active.active_provider;
        Ok(())
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        let answered = BaseTransformImplExt::parent_query(self, direction, query);
        if answered {
            self.core.answer_query(direction, query);
        }
        answered
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        self.core.sink_event(self, &event);
        self.parent_sink_event(event)
    }

    live::scheduled_transform_vfuncs!();

    fn before_transform(&self, inbuf: &gst::BufferRef) {
        sync_controlled(self.obj().upcast_ref(), inbuf);
    }

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
}

impl StyleTransfer {
    /// The settings each frame reads: strength, and how the frame is inferred.
    fn frame_settings(&self) -> (f32, FrameSettings) {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        (s.strength as f32, FrameSettings::new(&s.model, s.interval))
    }
}

impl VideoFilterImpl for StyleTransfer {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        _outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        pixel_layout(in_info.format())
            .ok_or_else(|| gst::loggable_error!(CAT, "unsupported caps {incaps}"))?;
        let settings = self.frame_settings().1;
        let can_pipeline = !settings.non_blocking && settings.interval == 1;
        self.core.set_caps(
            self.obj().upcast_ref(),
            *CAT,
            (in_info.clone(), out_info.clone()),
            can_pipeline,
        )
    }

    fn transform_frame_ip(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (strength, settings) = self.frame_settings();
        if strength <= 0.0 {
            return Ok(gst::FlowSuccess::Ok);
        }
        let element = self.obj();
        let element: &gst::Element = element.upcast_ref();
        let mut state = self.core.lock();
        let state: &mut State = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let layout = pixel_layout(frame.format()).ok_or(gst::FlowError::NotNegotiated)?;
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
        self.core.infer(element, state, settings, &image.as_ref())?;
        let State { runner, own, .. } = &mut *state;
        let drawn = runner.with_latest(|latest| match latest {
            Some(latest) => own.draw(latest.output, &mut image, strength),
            // Non-blocking before the first result, or a failed frame (pass): unchanged.
            None => Ok(()),
        });
        drawn.map_err(|e| stream_error(element, &state.explain(e)))?;
        Ok(gst::FlowSuccess::Ok)
    }
}

impl Scheduled for StyleTransfer {
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
