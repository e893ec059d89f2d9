// SPDX-License-Identifier: MIT OR Apache-2.0
//! What a loaded model is: its input and output tensors, and the pre-/post-processing it asks
//! for in its ONNX `metadata_props` (overridable by the user, for third-party models).
//!
//! The metadata keys are the contract between `models/` and the elements; README.md lists them.

use super::error::{Error, shown};
use super::segmentation::{BinaryScores, Palette};
use ort::session::Session;
use ort::value::{TensorElementType, ValueType};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// Metadata keys (ONNX `metadata_props`) the elements read.
pub mod keys {
    /// `style`, `segmentation`, `anomaly`, `map` or `super_resolution`: which element the
    /// model is made for.
    pub const KIND: &str = "kind";
    /// `0-1` or `0-255`: the value range of the input tensor before mean/std.
    pub const INPUT_RANGE: &str = "input_range";
    /// `0-1` or `0-255`: the value range of an image output.
    pub const OUTPUT_RANGE: &str = "output_range";
    /// Three comma-separated numbers in the input range's units, in RGB order (a one-channel
    /// model uses their luma-weighted sum).
    pub const MEAN: &str = "mean";
    /// Three comma-separated positive numbers in the input range's units, in RGB order (a
    /// one-channel model uses their luma-weighted sum).
    pub const STD: &str = "std";
    /// `rgb` or `bgr`: the channel order of the input and image output tensors.
    pub const CHANNEL_ORDER: &str = "channel_order";
    /// A positive integer: dynamic H and W must be multiples of it.
    pub const SIZE_MULTIPLE: &str = "size_multiple";
    /// Segmentation: the class names, comma-separated, in output channel order.
    pub const CLASS_NAMES: &str = "class_names";
    /// Segmentation: the class colours, `R,G,B;R,G,B;...`.
    pub const CLASS_COLORS: &str = "class_colors";
    /// Segmentation, binary models: `logits`, or `softmax`/`sigmoid`/`probabilities`.
    pub const OUTPUT: &str = "output";
    /// Anomaly: the per-pixel error of normal data (the error map is divided by it).
    pub const ERROR_SCALE: &str = "error_scale";
    /// Anomaly: the weight of (1 - SSIM) against L2 in the error, 0 to 1.
    pub const ERROR_SSIM_WEIGHT: &str = "error_ssim_weight";
    /// Anomaly: the output that is the model's own anomaly map (default: `anomaly_map` when the
    /// model has it, as anomalib's exports do). One-channel map models: the output that is the
    /// map (default: the first).
    pub const MAP_OUTPUT: &str = "map_output";
    /// Anomaly, with a map: the output that is the model's frame score (default:
    /// `pred_score` when the model has it).
    pub const SCORE_OUTPUT: &str = "score_output";
    /// One-channel (luma) input models: `bt601` (default) or `bt709`, the weights of R, G and
    /// B in the luma Y' the model takes (full range, as JPEG's YCbCr).
    pub const LUMA: &str = "luma";
    /// Super-resolution: the whole factor by which the output is larger than the input.
    pub const SCALE: &str = "scale";
    /// One-channel map models: `low,high`, the output's natural fixed range (the default of
    /// `normalization=fixed`, so that frames of one stream compare).
    pub const MAP_RANGE: &str = "map_range";
    /// One-channel map models: what the values mean (free text: depth, edges, saliency),
    /// passed on in each buffer's meta.
    pub const MAP_MEANING: &str = "map_meaning";
    /// One-channel depth maps: `high` (larger values are nearer: inverse depth, disparity) or
    /// `low` (metric depth); `low` makes the element invert by default, so near is bright.
    pub const MAP_NEAR: &str = "map_near";
}

/// The output anomalib's exports name their anomaly map.
pub const ANOMALIB_MAP: &str = "anomaly_map";
/// The output anomalib's exports name their frame score.
pub const ANOMALIB_SCORE: &str = "pred_score";
/// The error scale of a model's own anomaly map when its metadata gives none: anomalib
/// normalises its map and score so that 0.5 is its threshold, which this puts at 2, the
/// element's default threshold.
pub const DEFAULT_MAP_SCALE: f32 = 0.25;

/// The value range of image tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRange {
    /// 0.0 ..= 1.0
    Unit,
    /// 0.0 ..= 255.0
    Byte,
}

impl ValueRange {
    /// The tensor value of the full-scale pixel level 255.
    pub fn full_scale(self) -> f32 {
        match self {
            ValueRange::Unit => 1.0,
            ValueRange::Byte => 255.0,
        }
    }

    fn parse(key: &str, value: &str) -> Result<Self, Error> {
        match value.trim() {
            "0-1" | "0,1" | "[0,1]" => Ok(ValueRange::Unit),
            "0-255" | "0,255" | "[0,255]" => Ok(ValueRange::Byte),
            other => Err(Error::settings(format!(
                "metadata key '{key}' is '{other}'; expected '0-1' or '0-255'"
            ))),
        }
    }
}

/// The order of the colour channels in the tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    /// Red, green, blue (channel 0 is red).
    Rgb,
    /// Blue, green, red (OpenCV's order; channel 0 is blue).
    Bgr,
}

impl ChannelOrder {
    /// For tensor channel `c`, the index of the RGB component it holds.
    pub fn rgb_index(self, c: usize) -> usize {
        match self {
            ChannelOrder::Rgb => c,
            ChannelOrder::Bgr => 2 - c,
        }
    }

    fn parse(key: &str, value: &str) -> Result<Self, Error> {
        match value.trim().to_ascii_lowercase().as_str() {
            "rgb" => Ok(ChannelOrder::Rgb),
            "bgr" => Ok(ChannelOrder::Bgr),
            other => Err(Error::settings(format!(
                "metadata key '{key}' is '{other}'; expected 'rgb' or 'bgr'"
            ))),
        }
    }
}

/// The luma weights of a one-channel input model: Y' = kr R + kg G + kb B (full range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Luma {
    /// ITU-R BT.601 (JPEG, and the super-resolution literature's Y channel).
    #[default]
    Bt601,
    /// ITU-R BT.709 (HD video).
    Bt709,
}

impl Luma {
    /// (kr, kg, kb), summing to 1.
    pub fn weights(self) -> [f32; 3] {
        match self {
            Luma::Bt601 => [0.299, 0.587, 0.114],
            Luma::Bt709 => [0.2126, 0.7152, 0.0722],
        }
    }

    fn parse(key: &str, value: &str) -> Result<Self, Error> {
        match value
            .trim()
            .to_ascii_lowercase()
            .replace(['.', '-', '_'], "")
            .as_str()
        {
            "bt601" | "601" => Ok(Luma::Bt601),
            "bt709" | "709" => Ok(Luma::Bt709),
            _ => Err(Error::settings(format!(
                "metadata key '{key}' is '{}'; expected 'bt601' or 'bt709'",
                value.trim()
            ))),
        }
    }
}

/// How pixels become input values and image outputs become pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessing {
    /// The value range of the input tensor before mean and std.
    pub input_range: ValueRange,
    /// Per RGB component, in `input_range` units.
    pub mean: [f32; 3],
    /// Per RGB component, in `input_range` units; all > 0.
    pub std: [f32; 3],
    /// The channel order of the input and image output tensors.
    pub channel_order: ChannelOrder,
    /// The value range of an image output.
    pub output_range: ValueRange,
    /// Dynamic H and W are padded up to a multiple of this.
    pub size_multiple: usize,
    /// One-channel input models: how the luma is made from R, G and B.
    pub luma: Luma,
}

impl Default for Preprocessing {
    fn default() -> Self {
        Self {
            input_range: ValueRange::Unit,
            mean: [0.0; 3],
            std: [1.0; 3],
            channel_order: ChannelOrder::Rgb,
            output_range: ValueRange::Unit,
            size_multiple: 1,
            luma: Luma::Bt601,
        }
    }
}

/// Values the user set to override the model's metadata; `None` means "as the model says".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreprocessingOverrides {
    /// Replaces metadata `input_range`.
    pub input_range: Option<ValueRange>,
    /// Replaces metadata `mean` (RGB, in input-range units).
    pub mean: Option<[f32; 3]>,
    /// Replaces metadata `std` (RGB, in input-range units, all > 0).
    pub std: Option<[f32; 3]>,
    /// Replaces metadata `channel_order`.
    pub channel_order: Option<ChannelOrder>,
    /// Replaces metadata `output_range`.
    pub output_range: Option<ValueRange>,
    /// Replaces metadata `size_multiple` (>= 1).
    pub size_multiple: Option<usize>,
}

impl Preprocessing {
    /// Reads the model's metadata, then applies the overrides. An output range not given
    /// anywhere follows the input range (the convention of image-to-image nets).
    pub fn resolve(
        metadata: &HashMap<String, String>,
        overrides: &PreprocessingOverrides,
    ) -> Result<Self, Error> {
        let m = metadata;
        let o = overrides;
        let input_range = pick(
            o.input_range,
            m,
            keys::INPUT_RANGE,
            ValueRange::parse,
            ValueRange::Unit,
        )?;
        let output_range = pick(
            o.output_range,
            m,
            keys::OUTPUT_RANGE,
            ValueRange::parse,
            input_range,
        )?;
        let mean = pick(o.mean, m, keys::MEAN, parse_triplet, [0.0; 3])?;
        let std = pick(o.std, m, keys::STD, parse_triplet, [1.0; 3])?;
        let channel_order = pick(
            o.channel_order,
            m,
            keys::CHANNEL_ORDER,
            ChannelOrder::parse,
            ChannelOrder::Rgb,
        )?;
        let size_multiple = pick(
            o.size_multiple,
            m,
            keys::SIZE_MULTIPLE,
            parse_size_multiple,
            1,
        )?;
        let luma = pick(None, m, keys::LUMA, Luma::parse, Luma::Bt601)?;
        if let Some(bad) = std.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            return Err(Error::settings(format!(
                "'{}' must be three positive numbers; found {bad} in {std:?}",
                keys::STD
            )));
        }
        if size_multiple == 0 {
            return Err(Error::settings(format!(
                "'{}' must be at least 1",
                keys::SIZE_MULTIPLE
            )));
        }
        Ok(Self {
            input_range,
            mean,
            std,
            channel_order,
            output_range,
            size_multiple,
            luma,
        })
    }
}

impl Preprocessing {
    /// A fixed input side must be a multiple of `size_multiple` already: frames are resized to
    /// a fixed size, never padded, so a model that says otherwise contradicts itself.
    pub fn check_fixed_input(&self, input: &InputSpec) -> Result<(), Error> {
        for (side, dim) in [("height", input.height), ("width", input.width)] {
            if let Dim::Fixed(n) = dim
                && n % self.size_multiple != 0
            {
                return Err(Error::settings(format!(
                    "'{}' is {}, but the model's fixed input {side} {n} is not a multiple of it",
                    keys::SIZE_MULTIPLE,
                    self.size_multiple
                )));
            }
        }
        Ok(())
    }
}

/// The override if set, else the metadata value under `key` parsed, else `default`.
fn pick<T>(
    override_value: Option<T>,
    metadata: &HashMap<String, String>,
    key: &str,
    parse: fn(&str, &str) -> Result<T, Error>,
    default: T,
) -> Result<T, Error> {
    match (override_value, metadata.get(key)) {
        (Some(v), _) => Ok(v),
        (None, Some(v)) => parse(key, v),
        (None, None) => Ok(default),
    }
}

/// Parses "a,b,c" (spaces allowed) into three finite numbers; the error names `key`.
pub fn parse_triplet(key: &str, value: &str) -> Result<[f32; 3], Error> {
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    if parts.len() != 3 {
        return Err(Error::settings(format!(
            "'{key}' must be three comma-separated numbers (R,G,B); found {} in '{value}'",
            parts.len()
        )));
    }
    let mut out = [0.0f32; 3];
    for (slot, part) in out.iter_mut().zip(&parts) {
        *slot = part
            .parse::<f32>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                Error::settings(format!(
                    "'{key}' has '{part}', which is not a finite number"
                ))
            })?;
    }
    Ok(out)
}

fn parse_size_multiple(key: &str, value: &str) -> Result<usize, Error> {
    value.trim().parse::<usize>().map_err(|_| {
        Error::settings(format!(
            "metadata key '{key}' is '{value}'; expected a positive integer"
        ))
    })
}

/// A spatial dimension of a model tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// Any size (a symbolic or -1 dimension in the model).
    Dynamic,
}

impl Dim {
    /// An ONNX dimension: positive is fixed, zero or negative is dynamic.
    pub fn from_onnx(d: i64) -> Self {
        if d > 0 {
            Dim::Fixed(d as usize)
        } else {
            Dim::Dynamic
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Dynamic => f.write_str("?"),
        }
    }
}

/// Formats an ONNX shape with `?` for dynamic dimensions, e.g. `[1,3,?,?]`.
pub fn format_shape(shape: &[i64]) -> String {
    // A zero is a real (empty) dimension, not a dynamic one.
    let dims: Vec<String> = shape
        .iter()
        .map(|&d| match d {
            0 => "0".to_owned(),
            d => Dim::from_onnx(d).to_string(),
        })
        .collect();
    format!("[{}]", dims.join(","))
}

/// The model's single image input, validated to be float `[N,C,H,W]` with N 1 or dynamic and
/// C 3 (colour) or 1 (luma).
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    /// The input's name in the graph.
    pub name: String,
    /// Its channels: 3 (colour, in the model's channel order) or 1 (luma Y').
    pub channels: usize,
    /// Its height `H`.
    pub height: Dim,
    /// Its width `W`.
    pub width: Dim,
}

impl InputSpec {
    /// Validates an input of the given element type name and shape.
    pub fn validate(name: &str, is_float: bool, shape: &[i64]) -> Result<Self, Error> {
        let expected = "expected a float tensor [1,3,H,W] (NCHW, 3 colour channels) or \
                        [1,1,H,W] (luma)";
        if !is_float {
            return Err(Error::settings(format!(
                "input '{name}' is not float32; {expected}, found {}",
                format_shape(shape)
            )));
        }
        let batch_ok = shape.first().is_some_and(|n| *n == 1 || *n <= 0);
        if shape.len() != 4 || !batch_ok || !matches!(shape[1], 1 | 3) {
            return Err(Error::settings(format!(
                "input '{name}' has shape {}; {expected}",
                format_shape(shape)
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            channels: shape[1] as usize,
            height: Dim::from_onnx(shape[2]),
            width: Dim::from_onnx(shape[3]),
        })
    }

    /// The model's fixed (width, height), when both are fixed.
    pub fn fixed_size(&self) -> Option<(usize, usize)> {
        match (self.width, self.height) {
            (Dim::Fixed(w), Dim::Fixed(h)) => Some((w, h)),
            _ => None,
        }
    }
}

/// One output of the model, as declared (dynamic dimensions as -1).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    /// The output's name in the graph.
    pub name: String,
    /// Whether its elements are float32.
    pub is_float: bool,
    /// Its shape, with dynamic dimensions as -1.
    pub shape: Vec<i64>,
}

impl OutputSpec {
    /// Checks that this output is a float image `[1,C,H,W]` with `channels` channels.
    pub fn expect_image(&self, channels: i64) -> Result<(), Error> {
        let batch_ok = self.shape.first().is_some_and(|n| *n == 1 || *n < 0);
        let channels_ok = self.shape.get(1).is_some_and(|c| *c == channels || *c < 0);
        let empty = self.shape.contains(&0);
        if !self.is_float || self.shape.len() != 4 || !batch_ok || !channels_ok || empty {
            return Err(Error::settings(format!(
                "output '{}' is {}{}; expected a float tensor [1,{channels},H,W]",
                self.name,
                if self.is_float { "" } else { "not float32, " },
                format_shape(&self.shape)
            )));
        }
        Ok(())
    }
}

/// Everything the elements need to know about a loaded model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDescription {
    /// The image input.
    pub input: InputSpec,
    /// The outputs, in graph order (the elements read the first).
    pub outputs: Vec<OutputSpec>,
    /// The model's `metadata_props` (see [`keys`]).
    pub metadata: HashMap<String, String>,
}

impl ModelDescription {
    /// The `kind` the model declares, if any.
    pub fn kind(&self) -> Option<&str> {
        self.metadata.get(keys::KIND).map(String::as_str)
    }

    /// The first output, which the elements read (a loaded model has at least one).
    pub fn output(&self) -> Result<&OutputSpec, Error> {
        self.outputs
            .first()
            .ok_or_else(|| Error::settings("the model has no output"))
    }

    /// A segmentation model's contract: a float output `[1,K,H,W]` (or `[1,1,H,W]` for a binary
    /// model) whose K agrees with `class_names`; `class_colors` and `output` well formed.
    pub fn segmentation(&self) -> Result<SegmentationContract, Error> {
        let output = self.output()?;
        let declared = output.shape.get(1).copied().unwrap_or(0);
        let class_names: Vec<String> = match self.metadata.get(keys::CLASS_NAMES) {
            Some(names) => {
                let names: Vec<String> = names.split(',').map(|n| n.trim().to_owned()).collect();
                if names.iter().any(String::is_empty) {
                    return Err(Error::settings(format!(
                        "metadata key '{}' is '{}'; expected one name per class, \
                         comma-separated, none empty",
                        keys::CLASS_NAMES,
                        self.metadata[keys::CLASS_NAMES]
                    )));
                }
                names
            }
            None if declared > 0 => (0..declared).map(|i| format!("class{i}")).collect(),
            None => {
                return Err(Error::settings(format!(
                    "its class count is dynamic and it has no '{}'",
                    keys::CLASS_NAMES
                )));
            }
        };
        let classes = class_names
            .len()
            .max(usize::try_from(declared).unwrap_or(0));
        if classes > MAX_CLASSES {
            return Err(Error::settings(format!(
                "it has {classes} classes; the element tells at most {MAX_CLASSES} apart (its \
                 class ids are 8-bit, GRAY8)"
            )));
        }
        let batch_ok = output.shape.first().is_some_and(|n| *n == 1 || *n <= 0);
        if !output.is_float
            || output.shape.len() != 4
            || !batch_ok
            || !(declared <= 0 || declared == 1 || declared as usize == class_names.len())
        {
            return Err(Error::settings(format!(
                "output '{}' is {}{}; expected a float tensor [1,K,H,W] with K = {} classes \
                 (or 1 for a binary model)",
                output.name,
                if output.is_float { "" } else { "not float32, " },
                format_shape(&output.shape),
                class_names.len(),
            )));
        }
        let class_colors = self
            .metadata
            .get(keys::CLASS_COLORS)
            .map(|p| Palette::parse(keys::CLASS_COLORS, p))
            .transpose()?;
        let scores = match self.metadata.get(keys::OUTPUT).map(String::as_str) {
            Some("logits") => BinaryScores::Logit,
            None | Some("softmax" | "sigmoid" | "probabilities") => BinaryScores::Probability,
            Some(other) => {
                return Err(Error::settings(format!(
                    "metadata key '{}' is '{other}'; expected 'softmax', 'sigmoid', \
                     'probabilities' or 'logits'",
                    keys::OUTPUT
                )));
            }
        };
        Ok(SegmentationContract {
            class_names,
            class_colors,
            scores,
        })
    }

    /// An anomaly model's contract: a reconstruction autoencoder's float image output of 3
    /// channels, or a model's own anomaly map (`[1,1,H,W]` or `[1,H,W]`, see
    /// [`ModelDescription::anomaly_map`]); `error_scale` (if present) and `error_ssim_weight`
    /// (0 to 1, default 0.5) are non-negative numbers.
    pub fn anomaly(&self) -> Result<AnomalyContract, Error> {
        let map = self.anomaly_map()?;
        if map.is_none() {
            if self.input.channels != 3 {
                return Err(Error::settings(format!(
                    "its input '{}' has {} channel; a reconstruction is compared with a \
                     colour input [1,3,H,W]",
                    self.input.name, self.input.channels
                )));
            }
            self.output()?.expect_image(3)?;
        }
        let number = |key: &str| -> Result<Option<f32>, Error> {
            self.metadata
                .get(key)
                .map(|v| {
                    v.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|x| x.is_finite() && *x >= 0.0)
                        .ok_or_else(|| {
                            Error::settings(format!(
                                "metadata key '{key}' is '{v}'; expected a non-negative number"
                            ))
                        })
                })
                .transpose()
        };
        let error_scale = number(keys::ERROR_SCALE)?;
        if error_scale == Some(0.0) {
            return Err(Error::settings(format!(
                "metadata key '{}' is 0; expected a positive number (the error level of normal \
                 data)",
                keys::ERROR_SCALE
            )));
        }
        let ssim_weight = number(keys::ERROR_SSIM_WEIGHT)?.unwrap_or(DEFAULT_SSIM_WEIGHT);
        if ssim_weight > 1.0 {
            return Err(Error::settings(format!(
                "metadata key '{}' is {ssim_weight}; expected a number from 0 to 1",
                keys::ERROR_SSIM_WEIGHT
            )));
        }
        Ok(AnomalyContract {
            error_scale,
            ssim_weight,
            map,
        })
    }

    /// The model's own anomaly map and score outputs, when it has a map: the output metadata
    /// `map_output` names, else one named `anomaly_map`; the score output `score_output`
    /// names, else one named `pred_score`, if any.
    pub fn anomaly_map(&self) -> Result<Option<MapOutputs>, Error> {
        let named = |key: &str, default: &str| -> Result<Option<&OutputSpec>, Error> {
            match self.metadata.get(key) {
                Some(name) => self
                    .outputs
                    .iter()
                    .find(|o| &o.name == name)
                    .map(Some)
                    .ok_or_else(|| {
                        let names: Vec<&str> =
                            self.outputs.iter().map(|o| o.name.as_str()).collect();
                        Error::settings(format!(
                            "metadata key '{key}' is '{name}', but the model's outputs are {}",
                            names.join(", ")
                        ))
                    }),
                None => Ok(self.outputs.iter().find(|o| o.name == default)),
            }
        };
        let Some(map) = named(keys::MAP_OUTPUT, ANOMALIB_MAP)? else {
            return Ok(None);
        };
        let batch_ok = |n: &i64| *n == 1 || *n <= 0;
        let map_ok = map.is_float
            && match map.shape.as_slice() {
                [n, h, w] => batch_ok(n) && *h != 0 && *w != 0,
                [n, c, h, w] => batch_ok(n) && (*c == 1 || *c <= 0) && *h != 0 && *w != 0,
                _ => false,
            };
        if !map_ok {
            return Err(Error::settings(format!(
                "the anomaly map output '{}' is {}{}; expected a float tensor [1,1,H,W] or [1,H,W]",
                map.name,
                if map.is_float { "" } else { "not float32, " },
                format_shape(&map.shape)
            )));
        }
        let score = named(keys::SCORE_OUTPUT, ANOMALIB_SCORE)?;
        if let Some(score) = score {
            let one = score.shape.iter().all(|d| *d == 1 || *d <= 0);
            if !score.is_float || !one {
                return Err(Error::settings(format!(
                    "the score output '{}' is {}{}; expected one float value per frame",
                    score.name,
                    if score.is_float { "" } else { "not float32, " },
                    format_shape(&score.shape)
                )));
            }
        }
        Ok(Some(MapOutputs {
            map: map.name.clone(),
            score: score.map(|s| s.name.clone()),
        }))
    }
}

/// The most classes a segmentation model may have: class ids are 8-bit.
pub const MAX_CLASSES: usize = 256;

/// The weight of (1 - SSIM) in the anomaly error when the model does not say.
pub const DEFAULT_SSIM_WEIGHT: f32 = 0.5;

/// What a segmentation model's output and metadata say.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentationContract {
    /// One name per class, in output channel order (a binary model may name two).
    pub class_names: Vec<String>,
    /// The model's colours for its classes (`class_colors`), if it has them.
    pub class_colors: Option<Palette>,
    /// How a binary model's single channel reads.
    pub scores: BinaryScores,
}

/// What an anomaly model's outputs and metadata say.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyContract {
    /// The per-pixel error of normal data, when the model was calibrated (> 0).
    pub error_scale: Option<f32>,
    /// The weight of (1 - SSIM) against L2, 0 to 1.
    pub ssim_weight: f32,
    /// The model's own anomaly map (and score), when it gives one instead of a reconstruction.
    pub map: Option<MapOutputs>,
}

/// The outputs of an anomaly model that gives its own map (anomalib's exports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapOutputs {
    /// The anomaly map's output.
    pub map: String,
    /// The frame score's output, if the model has one.
    pub score: Option<String>,
}

// --- The model file and what a loaded session says of its model -------------------------

/// Checks that `path` names a readable, non-empty regular file before ONNX Runtime reads it.
pub(super) fn check_model_file(path: &Path) -> Result<(), Error> {
    let shown = shown(path);
    if path.as_os_str().is_empty() {
        return Err(Error::settings("no model file set (property 'model-file')"));
    }
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::not_found(format!("model file '{shown}' does not exist"))
        }
        _ => Error::unreadable(format!("model file '{shown}' cannot be read: {e}")),
    })?;
    if meta.is_dir() {
        return Err(Error::unreadable(format!(
            "model file '{shown}' is a directory, not an ONNX file"
        )));
    }
    if !meta.is_file() {
        // A FIFO or a device would block or stream forever in ONNX Runtime's reader.
        return Err(Error::unreadable(format!(
            "model file '{shown}' is not a regular file (a FIFO, socket or device?)"
        )));
    }
    let mut file = std::fs::File::open(path)
        .map_err(|e| Error::unreadable(format!("model file '{shown}' cannot be read: {e}")))?;
    // A size of 0 is not always empty: files under /proc and /sys say 0 and have content.
    if meta.len() == 0 && matches!(std::io::Read::read(&mut file, &mut [0u8; 1]), Ok(0)) {
        return Err(Error::unreadable(format!("model file '{shown}' is empty")));
    }
    Ok(())
}

/// ONNX Runtime's load errors, said in the user's terms where we know the cause.
pub(super) fn explain_load_error(path: &Path, message: &str) -> Error {
    let shown = shown(path);
    if message.contains("Protobuf parsing failed") {
        return Error::unreadable(format!(
            "model file '{shown}' is not a valid ONNX model (truncated or another format?): {message}"
        ));
    }
    const MISSING_DATA: &str = "External data path does not exist: ";
    if let Some(at) = message.find(MISSING_DATA) {
        let missing = message[at + MISSING_DATA.len()..].trim().trim_matches('"');
        let name = Path::new(missing)
            .file_name()
            .map_or(missing.into(), |n| n.to_string_lossy());
        return Error::not_found(format!(
            "model '{shown}' keeps its weights in '{name}', which is not beside it ({missing}): \
             copy that file along with the model"
        ));
    }
    Error::settings(format!("could not load model '{shown}': {message}"))
}

impl ModelDescription {
    /// Reads and validates what `session` says of its model: one float image input
    /// `[1,3,H,W]`, at least one output, the metadata.
    pub(super) fn of_session(session: &Session) -> Result<Self, Error> {
        describe(session)
    }
}

fn describe(session: &Session) -> Result<ModelDescription, Error> {
    let inputs = session.inputs();
    let input = match inputs {
        [only] => only,
        [] => return Err(Error::settings("the model has no input")),
        _ => {
            let names: Vec<&str> = inputs.iter().map(|i| i.name()).collect();
            return Err(Error::settings(format!(
                "the model has {} inputs ({}); expected one image input [1,3,H,W]",
                names.len(),
                names.join(", ")
            )));
        }
    };
    let (is_float, shape) = tensor_info(input.dtype());
    let input = InputSpec::validate(input.name(), is_float, &shape)?;
    if session.outputs().is_empty() {
        return Err(Error::settings("the model has no output"));
    }
    let outputs = session
        .outputs()
        .iter()
        .map(|o| {
            let (is_float, shape) = tensor_info(o.dtype());
            OutputSpec {
                name: o.name().to_owned(),
                is_float,
                shape,
            }
        })
        .collect();
    Ok(ModelDescription {
        input,
        outputs,
        metadata: read_metadata(session)?,
    })
}

fn tensor_info(dtype: &ValueType) -> (bool, Vec<i64>) {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => (*ty == TensorElementType::Float32, shape.to_vec()),
        _ => (false, Vec::new()),
    }
}

fn read_metadata(session: &Session) -> Result<HashMap<String, String>, Error> {
    let meta = session
        .metadata()
        .map_err(|e| Error::settings(format!("cannot read metadata: {e}")))?;
    let keys = meta
        .custom_keys()
        .map_err(|e| Error::settings(format!("cannot read metadata: {e}")))?;
    // A key listed without a value is one whose value is not UTF-8 (ort reads it as None):
    // refused, never dropped (a `kind` of invalid bytes would otherwise skip the kind check).
    keys.into_iter()
        .map(|k| match meta.custom(&k) {
            Some(v) => Ok((k, v)),
            None => Err(Error::settings(format!(
                "metadata key '{k}' has a value that is not valid UTF-8 text"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_errors_are_said_in_the_users_terms() {
        let path = Path::new("/m/model.onnx");
        let e = explain_load_error(
            path,
            "Load model from /m/model.onnx failed:Protobuf parsing failed.",
        );
        assert!(
            e.message()
                .starts_with("model file '/m/model.onnx' is not a valid ONNX model"),
            "{e}"
        );
        let e = explain_load_error(
            path,
            "External data path validation failed for initializer: w. Error: x.cc:619 \
             ValidateExternalDataPathFromDir External data path does not exist: \"/m/model.onnx.data\"",
        );
        assert!(
            e.message().starts_with("model '/m/model.onnx' keeps its weights in 'model.onnx.data', which is not beside it (/m/model.onnx.data)"),
            "{e}"
        );
        let e = explain_load_error(path, "something else");
        assert_eq!(e, "could not load model '/m/model.onnx': something else");
    }

    fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_metadata() {
        let p = Preprocessing::resolve(&HashMap::new(), &Default::default()).unwrap();
        assert_eq!(p, Preprocessing::default());
    }

    #[test]
    fn metadata_is_read_and_overrides_win() {
        let m = meta(&[
            ("input_range", "0-255"),
            ("mean", "1, 2,3"),
            ("std", "4,5,6"),
            ("channel_order", "BGR"),
            ("size_multiple", "4"),
        ]);
        let p = Preprocessing::resolve(&m, &Default::default()).unwrap();
        assert_eq!(p.input_range, ValueRange::Byte);
        assert_eq!(p.output_range, ValueRange::Byte, "follows the input range");
        assert_eq!(p.mean, [1.0, 2.0, 3.0]);
        assert_eq!(p.std, [4.0, 5.0, 6.0]);
        assert_eq!(p.channel_order, ChannelOrder::Bgr);
        assert_eq!(p.size_multiple, 4);

        let o = PreprocessingOverrides {
            input_range: Some(ValueRange::Unit),
            output_range: Some(ValueRange::Byte),
            mean: Some([0.5; 3]),
            channel_order: Some(ChannelOrder::Rgb),
            size_multiple: Some(8),
            ..Default::default()
        };
        let p = Preprocessing::resolve(&m, &o).unwrap();
        assert_eq!(p.input_range, ValueRange::Unit);
        assert_eq!(p.output_range, ValueRange::Byte);
        assert_eq!(p.mean, [0.5; 3]);
        assert_eq!(p.std, [4.0, 5.0, 6.0]);
        assert_eq!(p.channel_order, ChannelOrder::Rgb);
        assert_eq!(p.size_multiple, 8);
    }

    fn description(output: &[i64], meta_pairs: &[(&str, &str)]) -> ModelDescription {
        ModelDescription {
            input: InputSpec::validate("x", true, &[1, 3, -1, -1]).unwrap(),
            outputs: vec![OutputSpec {
                name: "y".into(),
                is_float: true,
                shape: output.to_vec(),
            }],
            metadata: meta(meta_pairs),
        }
    }

    #[test]
    fn an_anomaly_map_output_is_found_by_name_and_checked() {
        let output = |name: &str, is_float: bool, shape: &[i64]| OutputSpec {
            name: name.into(),
            is_float,
            shape: shape.to_vec(),
        };
        let mut d = description(&[1], &[]);
        d.outputs = vec![
            output("pred_score", true, &[1]),
            output("pred_label", false, &[1]),
            output("anomaly_map", true, &[1, 1, -1, -1]),
        ];
        assert_eq!(
            d.anomaly().unwrap().map,
            Some(MapOutputs {
                map: "anomaly_map".into(),
                score: Some("pred_score".into())
            })
        );
        d.metadata = meta(&[("map_output", "heat")]);
        let e = d.anomaly().unwrap_err();
        assert_eq!(
            e,
            "metadata key 'map_output' is 'heat', but the model's outputs are pred_score, \
             pred_label, anomaly_map"
        );
        d.metadata = meta(&[("score_output", "pred_label")]);
        let e = d.anomaly().unwrap_err();
        assert_eq!(
            e,
            "the score output 'pred_label' is not float32, [1]; expected one float value per frame"
        );
        d.metadata = meta(&[]);
        d.outputs[2] = output("anomaly_map", true, &[1, 3, -1, -1]);
        let e = d.anomaly().unwrap_err();
        assert!(
            e.message()
                .starts_with("the anomaly map output 'anomaly_map' is [1,3,?,?]"),
            "{e}"
        );
    }

    #[test]
    fn task_contracts_say_what_is_wrong_and_where() {
        let e = description(&[1, 3, -1, -1], &[("class_names", "")])
            .segmentation()
            .unwrap_err();
        assert!(
            e.message().starts_with("metadata key 'class_names' is ''"),
            "{e}"
        );
        let e = description(&[1, 3, -1, -1], &[("error_scale", "0")])
            .anomaly()
            .unwrap_err();
        assert!(
            e.message()
                .starts_with("metadata key 'error_scale' is 0; expected a positive number"),
            "{e}"
        );
        let e = description(&[1, 3, 0, 0], &[]).anomaly().unwrap_err();
        assert_eq!(
            e,
            "output 'y' is [1,3,0,0]; expected a float tensor [1,3,H,W]"
        );
    }

    #[test]
    fn bad_metadata_names_the_key() {
        let cases = [
            (("mean", "1,2"), "'mean' must be three"),
            (("std", "1,0,1"), "'std' must be three positive"),
            (("std", "a,b,c"), "'std' has 'a'"),
            (("input_range", "0-2"), "'input_range' is '0-2'"),
            (("channel_order", "gbr"), "'channel_order' is 'gbr'"),
            (("size_multiple", "-4"), "'size_multiple' is '-4'"),
            (("size_multiple", "0"), "'size_multiple' must be at least 1"),
        ];
        for ((key, value), expected) in cases {
            let err =
                Preprocessing::resolve(&meta(&[(key, value)]), &Default::default()).expect_err(key);
            assert!(err.message().contains(expected), "{key}={value}: {err}");
        }
    }

    #[test]
    fn a_fixed_size_that_is_not_a_size_multiple_is_refused() {
        let input = InputSpec::validate("x", true, &[1, 3, 32, 30]).unwrap();
        let pre = |m: usize| Preprocessing {
            size_multiple: m,
            ..Default::default()
        };
        assert!(pre(2).check_fixed_input(&input).is_ok());
        let err = pre(8).check_fixed_input(&input).unwrap_err();
        assert_eq!(
            err,
            "'size_multiple' is 8, but the model's fixed input width 30 is not a multiple of it"
        );
        let dynamic = InputSpec::validate("x", true, &[1, 3, -1, -1]).unwrap();
        assert!(pre(8).check_fixed_input(&dynamic).is_ok());
    }

    #[test]
    fn input_shapes_are_validated() {
        let ok = InputSpec::validate("input", true, &[1, 3, -1, -1]).unwrap();
        assert_eq!((ok.height, ok.width), (Dim::Dynamic, Dim::Dynamic));
        let fixed = InputSpec::validate("x", true, &[-1, 3, 224, 200]).unwrap();
        assert_eq!(fixed.fixed_size(), Some((200, 224)));
        let luma = InputSpec::validate("x", true, &[1, 1, -1, -1]).unwrap();
        assert_eq!(luma.channels, 1);
        let err = InputSpec::validate("x", true, &[1, 2, -1, -1]).unwrap_err();
        assert!(
            err.message().contains("[1,2,?,?]")
                && err.message().contains("[1,3,H,W]")
                && err.message().contains("[1,1,H,W] (luma)"),
            "{err}"
        );
        let err = InputSpec::validate("x", true, &[1, 3, 8]).unwrap_err();
        assert!(err.message().contains("[1,3,8]"), "{err}");
        let err = InputSpec::validate("x", false, &[1, 3, 8, 8]).unwrap_err();
        assert!(err.message().contains("not float32"), "{err}");
    }

    #[test]
    fn image_outputs_are_validated() {
        let out = |shape: Vec<i64>| OutputSpec {
            name: "y".into(),
            is_float: true,
            shape,
        };
        assert!(out(vec![1, 3, -1, -1]).expect_image(3).is_ok());
        let err = out(vec![1, 5, -1, -1]).expect_image(3).unwrap_err();
        assert!(
            err.message().contains("[1,5,?,?]") && err.message().contains("[1,3,H,W]"),
            "{err}"
        );
    }
}
