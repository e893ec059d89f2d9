// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxmap: runs a model whose output is one continuous channel `[1,1,H,W]` (depth, edges,
//! saliency, text probability), brings the map to the frame size bilinearly, normalises it
//! (per-frame min-max, percentiles, or a fixed range) and draws it through a colour map in
//! place of the frame or over it, or writes it as GRAY16_LE for applications. Every buffer
//! carries the map's range and the normalisation used (`GstAutoencoderMapMeta`).
//!
//! ```text
//! gst-launch-1.0 v4l2src ! videoconvert ! \
//!     onnxmap model-file=depth.onnx colormap=turbo normalization=percentile ! \
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
use crate::common::{analysis, error_message, refuse_while_running};
use crate::inference::error::shown;
use crate::inference::map::{
    self, FrameMap, MapContract, MapTask, Near, Normalisation, Percentiles, draw_map, write_gray16,
};
use crate::inference::score_map::Upsampler;
use crate::inference::{Error, ImageRef};

/// The name of the custom meta on every output buffer: a structure with `min` and `max` (f64:
/// the frame's map, raw model values), `low` and `high` (f64: the normalisation range used for
/// this frame), `meaning` (the model's `map_meaning`, "" if none) and `inverted` (bool: values
/// were drawn as `1 - t`).
pub const META_NAME: &std::ffi::CStr = c"GstAutoencoderMapMeta";
const MODEL_KIND: &str = "map";

const DEFAULT_OPACITY: f64 = 0.5;
const DEFAULT_PERCENTILE: f64 = 2.0;
const DEFAULT_RANGE_SMOOTHING: f64 = 0.0;
const DEFAULT_INTERVAL: u32 = 1;
/// The fixed range of a model without `map_range` (probability-like maps).
const DEFAULT_RANGE: (f64, f64) = (0.0, 1.0);
/// The largest magnitude of `range-min` and `range-max`: still finite as f32.
const RANGE_LIMIT: f64 = 1e30;

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderMapOutput")]
/// What `onnxmap` writes into the stream (its `output` property).
pub enum Output {
    /// The colour-mapped map replaces the frame (the default).
    #[default]
    #[enum_value(
        name = "The colour-mapped map in place of the frame",
        nick = "colormap"
    )]
    Colormap,
    /// The colour-mapped map blended over the frame with `opacity`.
    #[enum_value(
        name = "The colour-mapped map blended over the frame with 'opacity'",
        nick = "overlay"
    )]
    Overlay,
    /// GRAY16_LE frames: the normalised value, 0..65535 (after `invert`).
    #[enum_value(
        name = "GRAY16_LE frames of the normalised value (0..65535)",
        nick = "gray16"
    )]
    Gray16,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderColormap")]
/// The colour map `onnxmap` draws with (its `colormap` property; matplotlib's names).
pub enum Colormap {
    /// Turbo (the default): a rainbow with perceptually smooth steps.
    #[default]
    #[enum_value(name = "Turbo (rainbow, smooth steps)", nick = "turbo")]
    Turbo,
    /// Inferno: black, purple, orange, pale yellow.
    #[enum_value(name = "Inferno (black to pale yellow)", nick = "inferno")]
    Inferno,
    /// Viridis: dark blue, green, yellow.
    #[enum_value(name = "Viridis (dark blue to yellow)", nick = "viridis")]
    Viridis,
    /// Magma: black, purple, pink, pale yellow.
    #[enum_value(name = "Magma (black to pale yellow through pink)", nick = "magma")]
    Magma,
    /// Plasma: blue, purple, orange, yellow.
    #[enum_value(name = "Plasma (blue to yellow)", nick = "plasma")]
    Plasma,
    /// Black to white.
    #[enum_value(name = "Gray levels (black to white)", nick = "gray")]
    Gray,
}

impl From<Colormap> for map::Colormap {
    fn from(c: Colormap) -> Self {
        match c {
            Colormap::Turbo => map::Colormap::Turbo,
            Colormap::Inferno => map::Colormap::Inferno,
            Colormap::Viridis => map::Colormap::Viridis,
            Colormap::Magma => map::Colormap::Magma,
            Colormap::Plasma => map::Colormap::Plasma,
            Colormap::Gray => map::Colormap::Gray,
        }
    }
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderMapNormalization")]
/// How `onnxmap` spreads the map's values over the colour map (its `normalization` property).
pub enum Normalization {
    /// Each frame's own smallest to largest value (the default).
    #[default]
    #[enum_value(name = "Each frame's own minimum to maximum", nick = "minmax")]
    Minmax,
    /// Each frame's `percentile`-th to (100 - `percentile`)-th percentile: outliers clipped.
    #[enum_value(
        name = "Each frame's 'percentile'-th to (100 - 'percentile')-th percentile",
        nick = "percentile"
    )]
    Percentile,
    /// A fixed range, `range-min` to `range-max` (default: the model's `map_range`, else 0..1),
    /// the same for every frame.
    #[enum_value(
        name = "The fixed range range-min..range-max (default: the model's map_range, else 0..1)",
        nick = "fixed"
    )]
    Fixed,
}

#[derive(Debug, Clone, Default)]
struct Settings {
    model: ModelSettings,
    /// Set by the user; None: the model's `map_range`, else 0..1.
    range_min: Option<f64>,
    range_max: Option<f64>,
    /// The model's `map_range`, once started.
    model_range: Option<(f64, f64)>,
    live: PerFrame,
}

impl Settings {
    /// The range of `normalization=fixed`: the properties where set, else the model's, else 0..1.
    fn fixed_range(&self) -> (f64, f64) {
        let (low, high) = self.model_range.unwrap_or(DEFAULT_RANGE);
        (
            self.range_min.unwrap_or(low),
            self.range_max.unwrap_or(high),
        )
    }
}

/// The settings each frame reads, copied out under the lock (`output` among them, which only
/// changes in READY).
#[derive(Debug, Clone, Copy)]
struct PerFrame {
    output: Output,
    colormap: Colormap,
    normalization: Normalization,
    percentile: f64,
    range_smoothing: f64,
    invert: bool,
    opacity: f64,
    interval: u32,
}

impl Default for PerFrame {
    fn default() -> Self {
        Self {
            output: Output::Colormap,
            colormap: Colormap::Turbo,
            normalization: Normalization::Minmax,
            percentile: DEFAULT_PERCENTILE,
            range_smoothing: DEFAULT_RANGE_SMOOTHING,
            invert: false,
            opacity: DEFAULT_OPACITY,
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// What a frame is drawn with: the per-frame settings and the fixed range.
#[derive(Debug, Clone, Copy)]
struct Frame {
    live: PerFrame,
    fixed: (f64, f64),
}

/// What the element keeps of its own while started.
#[derive(Default)]
struct Own {
    /// The model's `map_meaning` ("" if none).
    meaning: String,
    /// The model's `map_near` is `low`: drawn inverted unless `invert` says otherwise.
    near_low: bool,
    /// The newest map at frame size, and its finite range at model resolution.
    frame: FrameMap,
    upsampler: Upsampler,
    percentiles: Percentiles,
    min: f32,
    max: f32,
    /// The normalisation of the last drawn frame, for its meta.
    low: f32,
    high: f32,
    inverted: bool,
    /// The per-frame range last drawn with (minmax, percentile), which `range-smoothing`
    /// carries into the next; None after a fixed range or before the first frame.
    smoothed: Option<(f32, f32)>,
}

impl Own {
    fn new(contract: &MapContract) -> Self {
        Self {
            meaning: contract.meaning.clone(),
            near_low: contract.near == Some(Near::Low),
            ..Self::default()
        }
    }

    /// The normalisation of this frame as `frame` says (remembered for the meta).
    fn normalisation(&mut self, frame: &Frame) -> Normalisation {
        let (low, high) = match frame.live.normalization {
            Normalization::Minmax => (self.min, self.max),
            Normalization::Percentile => self.percentiles.range(frame.live.percentile as f32),
            Normalization::Fixed => (frame.fixed.0 as f32, frame.fixed.1 as f32),
        };
        let (low, high) = if frame.live.normalization == Normalization::Fixed {
            self.smoothed = None;
            (low, high)
        } else {
            let keep = frame.live.range_smoothing.clamp(0.0, 1.0) as f32;
            let blend = |previous: f32, now: f32| previous * keep + now * (1.0 - keep);
            let range = match self.smoothed {
                Some((l, h)) => (blend(l, low), blend(h, high)),
                None => (low, high),
            };
            self.smoothed = Some(range);
            range
        };
        (self.low, self.high) = (low, high);
        self.inverted = frame.live.invert != self.near_low;
        Normalisation::new(low, high, self.inverted)
    }
}

type State = Started<MapTask, Own>;

/// The element's implementation: its settings, and the inference state while started.
#[derive(Default)]
pub struct Map {
    settings: Mutex<Settings>,
    core: ElementCore<MapTask, Own>,
}

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onnxmap",
        gst::DebugColorFlags::empty(),
        Some("ONNX one-channel map element (depth, edges, saliency)"),
    )
});

#[glib::object_subclass]
impl ObjectSubclass for Map {
    const NAME: &'static str = "GstOnnxMap";
    type Type = super::Map;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for Map {
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
                    .blurb("What the element outputs: the colour-mapped map, the map over the frame, or GRAY16_LE values")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder::<Colormap>("colormap")
                    .nick("Colour map")
                    .blurb("The colour map the normalised values are drawn with")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder::<Normalization>("normalization")
                    .nick("Normalization")
                    .blurb("How values spread over the colour map: each frame's min..max, its percentiles, or the fixed range-min..range-max")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("percentile")
                    .nick("Percentile")
                    .blurb("normalization=percentile: the range is this percentile to 100 minus it (outliers clipped)")
                    .minimum(0.0)
                    .maximum(50.0)
                    .default_value(DEFAULT_PERCENTILE)
                    .mutable_playing()
                    .controllable()
                    .build(),
                glib::ParamSpecDouble::builder("range-smoothing")
                    .nick("Range smoothing")
                    .blurb("minmax and percentile: the weight of the previous frames' range in each frame's (0: each frame its own; 0.9: a slow drift, no flicker)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_RANGE_SMOOTHING)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("range-min")
                    .nick("Range minimum")
                    .blurb("normalization=fixed: the raw value at the low end of the colour map (default: the model's 'map_range', else 0)")
                    .minimum(-RANGE_LIMIT)
                    .maximum(RANGE_LIMIT)
                    .default_value(DEFAULT_RANGE.0)
                    .mutable_playing()
                    .controllable()
                    .build(),
                glib::ParamSpecDouble::builder("range-max")
                    .nick("Range maximum")
                    .blurb("normalization=fixed: the raw value at the high end of the colour map (default: the model's 'map_range', else 1)")
                    .minimum(-RANGE_LIMIT)
                    .maximum(RANGE_LIMIT)
                    .default_value(DEFAULT_RANGE.1)
                    .mutable_playing()
                    .controllable()
                    .build(),
                glib::ParamSpecBoolean::builder("invert")
                    .nick("Invert")
                    .blurb("Draw the normalised value v as 1 - v (a depth model whose 'map_near' is 'low' is drawn inverted already, so near is bright; this flips it back)")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("opacity")
                    .nick("Opacity")
                    .blurb("output=overlay: opacity of the colour-mapped map over the frame")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_OPACITY)
                    .mutable_playing()
                    .controllable()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Infer every N-th frame and reuse the last map in between")
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
            "colormap" => s.live.colormap = value.get().expect("type checked upstream"),
            "normalization" => s.live.normalization = value.get().expect("type checked upstream"),
            "percentile" => s.live.percentile = get(),
            "range-smoothing" => s.live.range_smoothing = get(),
            "range-min" => s.range_min = Some(get()),
            "range-max" => s.range_max = Some(get()),
            "invert" => s.live.invert = value.get().expect("type checked upstream"),
            "opacity" => s.live.opacity = get(),
            "interval" => s.live.interval = value.get().expect("type checked upstream"),
            _ => s.model.set(name, value, &self.obj().name()),
        }
        gst::info!(
            CAT,
            imp = self,
            "{name}: {old:?} -> {:?}",
            property_of(&s, name)
        );
        if matches!(name, "range-min" | "range-max") {
            let (low, high) = s.fixed_range();
            if low >= high {
                gst::warning!(
                    CAT,
                    imp = self,
                    "range-min {low} is not below range-max {high}: normalization=fixed draws \
                     every value at the low end until it is"
                );
            }
        }
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
        "colormap" => s.live.colormap.to_value(),
        "normalization" => s.live.normalization.to_value(),
        "percentile" => s.live.percentile.to_value(),
        "range-smoothing" => s.live.range_smoothing.to_value(),
        "range-min" => s.fixed_range().0.to_value(),
        "range-max" => s.fixed_range().1.to_value(),
        "invert" => s.live.invert.to_value(),
        "opacity" => s.live.opacity.to_value(),
        "interval" => s.live.interval.to_value(),
        _ => s.model.get(name),
    }
}

impl GstObjectImpl for Map {}

impl ElementImpl for Map {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "ONNX one-channel map (depth, edges, saliency)",
                "Filter/Analyzer/Video",
                "Runs a model whose output is one continuous channel (depth, edges, saliency, \
                 text probability) on every frame and shows it through a colour map, over the \
                 frame, or as GRAY16, with the map's range per buffer",
                "gst-plugin-autoencoder developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| analysis::pad_templates_with(gst_video::VideoFormat::Gray16Le));
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for Map {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::Both;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut model_range = None;
        let active = self.core.start(
            self.obj().upcast_ref(),
            *CAT,
            &settings.model,
            MODEL_KIND,
            "a one-channel map model",
            |description, _pre, not_this| {
                let output = map::map_output(description).map_err(|e| not_this(e.to_string()))?;
                let model_file = settings.model.model_path();
                let contract = map::map_metadata(description).map_err(|e| {
                    error_message(&e.context(format!("model '{}'", shown(&model_file))))
                })?;
                let contract = MapContract { output, ..contract };
                model_range = contract.range;
                Ok((MapTask::new(&contract), Own::new(&contract)))
            },
        )?;
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        s.model.active_provider = active.active_provider;
        s.model_range = model_range.map(|(low, high)| (f64::from(low), f64::from(high)));
        Ok(())
    }

    live::scheduled_transform_vfuncs!();
    analysis::analysis_transform_vfuncs!();

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.core.stop();
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        s.model.active_provider.clear();
        s.model_range = None;
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
            == Output::Gray16;
        let output = if gray {
            analysis::OutputFormats::Gray16
        } else {
            analysis::OutputFormats::Same
        };
        Some(analysis::transform_caps(direction, caps, filter, output))
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (frame, frame_settings) = self.frame_settings();
        let mut state = self.core.lock();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (info, _) = state.caps()?;
        {
            let mut video = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &info)
                .map_err(|_| gst::FlowError::Error)?;
            let mut image = analysis::image_mut(&mut video, &info)?;
            if !self.measure(state, frame_settings, &image.as_ref())? {
                return Ok(gst::FlowSuccess::Ok); // non-blocking, no result yet: unchanged
            }
            let own = &mut state.own;
            let normalisation = own.normalisation(&frame);
            let opacity = match frame.live.output {
                Output::Overlay => frame.live.opacity as f32,
                Output::Colormap | Output::Gray16 => 1.0,
            };
            let lut = map::Colormap::from(frame.live.colormap).lut();
            draw_map(&mut image, &own.frame, lut, normalisation, opacity);
        }
        self.publish(state, buf);
        Ok(gst::FlowSuccess::Ok)
    }

    fn transform(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (frame, frame_settings) = self.frame_settings();
        let mut state = self.core.lock();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (in_info, out_info) = state.caps()?;
        // Only GRAY16 output is not drawn in place.
        if out_info.format() != gst_video::VideoFormat::Gray16Le {
            return Err(gst::FlowError::NotNegotiated);
        }
        {
            let video =
                gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), &in_info)
                    .map_err(|_| gst::FlowError::Error)?;
            if !self.measure(
                state,
                frame_settings,
                &analysis::image_ref(&video, &in_info)?,
            )? {
                // Non-blocking, no result yet: all 0.
                analysis::write_gray8(outbuf, &out_info, |data, _| data.fill(0))?;
                return Ok(gst::FlowSuccess::Ok);
            }
        }
        let own = &mut state.own;
        let normalisation = own.normalisation(&frame);
        // A one-plane frame: the GRAY8 writer maps GRAY16 alike.
        analysis::write_gray8(outbuf, &out_info, |data, stride| {
            write_gray16(&own.frame, normalisation, data, stride);
        })?;
        self.publish(state, outbuf);
        Ok(gst::FlowSuccess::Ok)
    }
}

impl Map {
    /// The settings each frame reads.
    fn frame_settings(&self) -> (Frame, FrameSettings) {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let frame = Frame {
            live: s.live,
            fixed: s.fixed_range(),
        };
        (frame, FrameSettings::new(&s.model, s.live.interval))
    }

    /// Runs inference on this frame when due and brings the frame-size map and its range up to
    /// date with the newest result. Returns false while there is no result.
    fn measure(
        &self,
        state: &mut State,
        frame_settings: FrameSettings,
        image: &ImageRef,
    ) -> Result<bool, gst::FlowError> {
        let element = self.obj();
        let element: &gst::Element = element.upcast_ref();
        self.core.infer(element, state, frame_settings, image)?;
        let (width, height) = (image.width, image.height);
        state
            .derive_from_newest(width, height, |result, own| {
                own.frame
                    .upsample(&result.map, width, height, &mut own.upsampler);
                own.percentiles.reset(&result.map);
                (own.min, own.max) = (result.min, result.max);
                Ok::<(), Error>(())
            })
            .map_err(|e| stream_error(element, &state.explain(e)))
    }

    /// Attaches the map's range and the normalisation of this frame to the buffer.
    fn publish(&self, state: &State, buf: &mut gst::BufferRef) {
        // GStreamer >= 1.26: the map at model resolution as a standard tensor.
        #[cfg(feature = "v1_26")]
        if let Some(Err(e)) = state.runner.with_latest(|latest| {
            latest.map(|latest| {
                let map = &latest.output.map;
                crate::common::analytics::attach_tensor(
                    buf,
                    crate::common::analytics::tensor_ids::MAP,
                    (1, map.height, map.width),
                    &map.values,
                )
            })
        }) {
            gst::warning!(CAT, imp = self, "could not attach the map tensor: {e}");
        }
        let own = &state.own;
        let structure = gst::Structure::builder(&*META_NAME.to_string_lossy())
            .field("min", f64::from(own.min))
            .field("max", f64::from(own.max))
            .field("low", f64::from(own.low))
            .field("high", f64::from(own.high))
            .field("meaning", own.meaning.as_str())
            .field("inverted", own.inverted)
            .build();
        if let Err(e) = analysis::attach_structure(buf, META_NAME, &structure) {
            gst::warning!(CAT, imp = self, "could not attach the map's range: {e}");
        }
    }
}

impl Scheduled for Map {
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

/// Registers the custom meta (copied along with buffer copies).
pub(super) fn register_meta() {
    analysis::register_structure_meta(META_NAME);
}
