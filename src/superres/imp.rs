// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxsuperresolution: runs a super-resolution ONNX model on every frame and sends out its
//! output, larger than the input by the model's whole factor (from the metadata `scale`, or
//! found by running the model at start). Colour models and luma-only models (ESPCN, VDSR: Y'
//! through the network, the colour enlarged bicubically) both run.
//!
//! ```text
//! gst-launch-1.0 videotestsrc ! video/x-raw,width=640,height=360 ! videoconvert ! \
//!     onnxsuperresolution model-file=models/superres_espcn_x2.onnx ! \
//!     videoconvert ! autovideosink
//! ```
//!
//! Every output frame is the model's result for that very frame: there is no `non-blocking`
//! mode or `interval` (an older result does not fit a newer frame), and no `inference-scale`
//! (the model's input is the frame). On a live source the inference of frame N overlaps with
//! pushing frame N-1 when it is slow, as for the other elements.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;

use super::caps::{self, Way};
use crate::common::analysis::{image_mut, image_ref};
use crate::common::element::{ElementCore, FrameSettings, Started, stream_error};
use crate::common::live::{self, FrameCost, Scheduled};
use crate::common::model_settings::ModelSettings;
use crate::common::{VIDEO_FORMATS, pixel_layout, post_error, refuse_while_running};
use crate::inference::Error;
use crate::inference::error::shown;
use crate::inference::model::keys;
use crate::inference::probe::MultipleSource;
use crate::inference::superres::{
    MAX_OUTPUT_SIDE, ScaleFactor, SuperResOutput, SuperResTask, parse_scale, scaled_side,
};

/// The metadata `kind` of the models this element runs (models without `kind` are accepted).
const MODEL_KIND: &str = "super_resolution";
/// The shared model properties that do not apply: each output frame needs its own result, and
/// the model's input is the frame.
const NOT_APPLICABLE: [&str; 3] = ["inference-scale", "non-blocking", "wait-first-result"];
const SCALE_FACTOR: &str = "scale-factor";

type State = Started<SuperResTask, SuperResOutput>;

/// The element's implementation: its settings, the model's factor, and the inference state
/// while started.
#[derive(Default)]
pub struct SuperResolution {
    settings: Mutex<ModelSettings>,
    /// The factor of the model started last (unknown when stopped).
    factor: Mutex<ScaleFactor>,
    core: ElementCore<SuperResTask, SuperResOutput>,
    /// A negotiation failure was posted since the start (negotiation retries; once is enough).
    caps_error_posted: AtomicBool,
}

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onnxsuperresolution",
        gst::DebugColorFlags::empty(),
        Some("ONNX super-resolution element"),
    )
});

#[glib::object_subclass]
impl ObjectSubclass for SuperResolution {
    const NAME: &'static str = "GstOnnxSuperResolution";
    type Type = super::SuperResolution;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for SuperResolution {
    fn constructed(&self) {
        self.parent_constructed();
        gst_base::prelude::BaseTransformExt::set_qos(&*self.obj(), true);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = ModelSettings::properties();
            props.retain(|p| !NOT_APPLICABLE.contains(&p.name()));
            props.push(
                glib::ParamSpecUInt::builder(SCALE_FACTOR)
                    .nick("Scale factor")
                    .blurb(
                        "The model's enlargement factor (read-only; from its metadata 'scale' \
                         or found at start; 0 when not started)",
                    )
                    .read_only()
                    .build(),
            );
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if refuse_while_running(self.obj().upcast_ref(), *CAT, pspec) {
            return;
        }
        let name = pspec.name();
        let mut settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let old = settings.get(name);
        settings.set(name, value, &self.obj().name());
        gst::info!(
            CAT,
            imp = self,
            "{name}: {old:?} -> {:?}",
            settings.get(name)
        );
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            SCALE_FACTOR => {
                let factor = self.factor().unwrap_or(0);
                u32::try_from(factor).unwrap_or(0).to_value()
            }
            name => self
                .settings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(name),
        }
    }
}

impl GstObjectImpl for SuperResolution {}

impl ElementImpl for SuperResolution {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "ONNX super-resolution (upscale)",
                "Filter/Converter/Video/Scaler",
                "Enlarges every frame by a super-resolution ONNX model's factor through ONNX \
                 Runtime (colour models, and luma models with the colour enlarged bicubically)",
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
            ["src", "sink"]
                .into_iter()
                .map(|name| {
                    let direction = if name == "src" {
                        gst::PadDirection::Src
                    } else {
                        gst::PadDirection::Sink
                    };
                    gst::PadTemplate::new(name, direction, gst::PadPresence::Always, &caps)
                        .expect("valid pad template")
                })
                .collect()
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for SuperResolution {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let factor = ScaleFactor::default();
        let outcome = self.core.start(
            self.obj().upcast_ref(),
            *CAT,
            &settings,
            MODEL_KIND,
            "a super-resolution model",
            |description, pre, not_this| {
                let channels = description.input.channels;
                let declared = description
                    .metadata
                    .get(keys::SCALE)
                    .map(|v| parse_scale(v))
                    .transpose()
                    .map_err(|e| not_this(e.to_string()))?;
                description
                    .output()
                    .and_then(|output| output.expect_image(channels as i64))
                    .map_err(|e| not_this(e.to_string()))?;
                let task = SuperResTask::new(channels, declared, factor.clone());
                Ok((task, SuperResOutput::new(pre)))
            },
        )?;
        let Some(found) = factor.get() else {
            self.core.stop();
            let why = match &outcome.probe.source {
                MultipleSource::NotFound(why) => why.clone(),
                _ => "no run at start".to_owned(),
            };
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                (
                    "model '{}' is not a super-resolution model: no input at start came out \
                     enlarged by one whole factor (first: {why}); a model that needs particular \
                     sizes can declare them in its metadata ('size_multiple', 'scale')",
                    shown(&settings.model_path())
                )
            ));
        };
        gst::info!(CAT, imp = self, "the model enlarges by {found}");
        *self.factor.lock().unwrap_or_else(|e| e.into_inner()) = factor;
        self.caps_error_posted.store(false, Ordering::Relaxed);
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .active_provider = outcome.active_provider;
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.core.stop();
        *self.factor.lock().unwrap_or_else(|e| e.into_inner()) = ScaleFactor::default();
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
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
        let way = if direction == gst::PadDirection::Sink {
            Way::Up
        } else {
            Way::Down
        };
        let other = caps::transform(caps, self.factor(), way);
        gst::trace!(CAT, imp = self, "{direction:?} {caps} -> {other}");
        Some(match filter {
            Some(filter) => filter.intersect_with_mode(&other, gst::CapsIntersectMode::First),
            None => other,
        })
    }

    fn fixate_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        othercaps: gst::Caps,
    ) -> gst::Caps {
        let Some(factor) = self.factor() else {
            return self.parent_fixate_caps(direction, caps, othercaps);
        };
        let way = if direction == gst::PadDirection::Sink {
            Way::Up
        } else {
            Way::Down
        };
        caps::fixate(caps, othercaps, factor, way)
    }

    fn accept_caps(&self, direction: gst::PadDirection, caps: &gst::Caps) -> bool {
        let accepted = self.parent_accept_caps(direction, caps);
        // Refused fixed caps on the sink pad are the CAPS event about to fail: say why here,
        // or upstream reports only not-negotiated.
        if !accepted
            && direction == gst::PadDirection::Sink
            && let Some(size) = fixed_size(caps)
        {
            self.explain_refused_size(size);
        }
        accepted
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        let answered = BaseTransformImplExt::parent_query(self, direction, query);
        if answered {
            self.core.answer_query(direction, query);
        }
        // Upstream asking whether one fixed size can pass, and nothing can: a source then
        // fails with not-negotiated before any CAPS event comes; say why first.
        if direction == gst::PadDirection::Sink
            && let gst::QueryViewMut::Caps(q) = query.view_mut()
            && q.result().is_some_and(|caps| caps.is_empty())
            && let Some(size) = q.filter().and_then(fixed_size)
        {
            self.explain_refused_size(size);
        }
        answered
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        self.core.sink_event(self, &event);
        let caps = match event.view() {
            gst::EventView::Caps(c) => Some(c.caps_owned()),
            _ => None,
        };
        let accepted = self.parent_sink_event(event);
        if let Some(size) = caps.as_ref().and_then(|caps| fixed_size(caps))
            && !accepted
        {
            self.explain_refused_size(size);
        }
        accepted
    }

    live::scheduled_transform_vfuncs!();
}

impl SuperResolution {
    /// The started model's factor.
    fn factor(&self) -> Option<usize> {
        self.factor.lock().unwrap_or_else(|e| e.into_inner()).get()
    }

    fn frame_settings(&self) -> FrameSettings {
        let settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        FrameSettings::new(&settings, 1)
    }

    /// Posts a negotiation error once per start.
    fn post_caps_error(&self, e: &Error) {
        if !self.caps_error_posted.swap(true, Ordering::Relaxed) {
            post_error(self.obj().upcast_ref(), e);
        }
    }

    /// The sizes out of `input` (the input caps' size times the factor), or why there are none.
    fn output_size(&self, width: u32, height: u32) -> Result<(usize, usize), Error> {
        let factor = self
            .factor()
            .ok_or_else(|| Error::settings("caps before the model started"))?;
        let (width, height) = (width as usize, height as usize);
        match (scaled_side(width, factor), scaled_side(height, factor)) {
            (Some(w), Some(h)) => Ok((w, h)),
            _ => Err(Error::settings(format!(
                "cannot enlarge {width}x{height} frames by {factor}: the output would be {}x{}, \
                 beyond {MAX_OUTPUT_SIDE} pixels a side; make the frames smaller before the \
                 element (videoscale)",
                width.saturating_mul(factor),
                height.saturating_mul(factor)
            ))),
        }
    }

    /// Input frames of `size` the element could not take: says why (once), naming the sizes,
    /// rather than leaving upstream with a bare not-negotiated.
    fn explain_refused_size(&self, (in_width, in_height): (u32, u32)) {
        let e = match self.output_size(in_width, in_height) {
            Err(e) => e,
            Ok((width, height)) => {
                let downstream = self
                    .obj()
                    .static_pad("src")
                    .map(|pad| pad.peer_query_caps(None))
                    .map_or_else(|| "nothing".to_owned(), |c| c.to_string());
                Error::settings(format!(
                    "the model enlarges {}x{} frames to {width}x{height}, which downstream does \
                     not accept (it accepts {downstream}); give the element frames whose size \
                     times {} downstream takes, or put videoscale after it",
                    in_width,
                    in_height,
                    self.factor().unwrap_or(0)
                ))
            }
        };
        self.post_caps_error(&e);
    }
}

/// The one frame size all of `caps`' structures give, when they give one.
fn fixed_size(caps: &gst::CapsRef) -> Option<(u32, u32)> {
    let mut sizes = caps.iter().map(|s| {
        let side = |field| s.get::<i32>(field).ok().and_then(|v| u32::try_from(v).ok());
        side("width").zip(side("height"))
    });
    let first = sizes.next()??;
    sizes.all(|size| size == Some(first)).then_some(first)
}

impl VideoFilterImpl for SuperResolution {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        _outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        pixel_layout(in_info.format())
            .ok_or_else(|| gst::loggable_error!(CAT, "unsupported caps {incaps}"))?;
        let expected = self
            .output_size(in_info.width(), in_info.height())
            .and_then(|(width, height)| {
                let out = (out_info.width() as usize, out_info.height() as usize);
                if out == (width, height) && out_info.format() == in_info.format() {
                    Ok(())
                } else {
                    Err(Error::settings(format!(
                        "the output caps {}x{} {:?} are not the input {}x{} {:?} enlarged by {}",
                        out.0,
                        out.1,
                        out_info.format(),
                        in_info.width(),
                        in_info.height(),
                        in_info.format(),
                        self.factor().unwrap_or(0)
                    )))
                }
            });
        if let Err(e) = expected {
            self.post_caps_error(&e);
            return Err(gst::loggable_error!(CAT, "{e}"));
        }
        self.core.set_caps(
            self.obj().upcast_ref(),
            *CAT,
            (in_info.clone(), out_info.clone()),
            true,
        )
    }

    fn transform_frame(
        &self,
        inframe: &gst_video::VideoFrameRef<&gst::BufferRef>,
        outframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.frame_settings();
        let element = self.obj();
        let element: &gst::Element = element.upcast_ref();
        let mut state = self.core.lock();
        let state: &mut State = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (in_info, out_info) = state.caps()?;
        let input = image_ref(inframe, &in_info)?;
        self.core.infer(element, state, settings, &input)?;
        let alpha = out_info.format_info().has_alpha();
        let mut output = image_mut(outframe, &out_info)?;
        let State { runner, own, .. } = &mut *state;
        let drawn = runner.with_latest(|latest| match latest {
            Some(latest) => own.draw(latest.output, &input, &mut output, alpha),
            // The frame's inference failed (on-inference-error=pass): bicubic alone.
            None => own.draw_bicubic(&input, &mut output),
        });
        drawn.map_err(|e| stream_error(element, &state.explain(e)))?;
        Ok(gst::FlowSuccess::Ok)
    }
}

impl Scheduled for SuperResolution {
    fn schedule(&self) -> &live::Schedule {
        &self.core.schedule
    }

    fn frame_cost(&self) -> FrameCost {
        self.core.frame_cost(self.frame_settings())
    }

    fn inference(&self) -> &dyn live::Inference {
        &self.core
    }
}
