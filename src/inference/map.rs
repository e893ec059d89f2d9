// SPDX-License-Identifier: MIT OR Apache-2.0
//! One-channel maps (depth, edges, saliency, text probability): the model's `[1,1,H,W]` output
//! kept at model resolution with its range, brought to the frame size bilinearly, normalised
//! into 0..1 (per-frame min-max, percentiles, or a fixed range) and drawn through a colour map
//! or written as GRAY16.
//!
//! Non-finite model values are kept as NaN: the statistics skip them, and they (and the frame
//! pixels interpolated from them) are drawn at the low end of the colour map, GRAY16 0, whatever
//! `invert` says: nothing is claimed where the model said nothing usable.

use std::sync::LazyLock;

use super::convert::ImageMut;
use super::error::Error;
use super::model::{ModelDescription, OutputSpec, format_shape, keys};
use super::resize::Size;
use super::runner::Task;
use super::score_map::{ScoreMap, Upsampler};
use super::session::RunOutput;
use super::tensor_input::TensorLayout;

// --- What the model says ----------------------------------------------------------------------

/// Which end of a depth map is near the camera (metadata `map_near`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Near {
    /// Larger values are nearer (inverse depth, disparity: MiDaS, Depth Anything).
    High,
    /// Smaller values are nearer (metric depth).
    Low,
}

/// What a one-channel map model's output and metadata say.
#[derive(Debug, Clone, PartialEq)]
pub struct MapContract {
    /// The output metadata `map_output` names; None: the model's first output.
    pub output: Option<String>,
    /// The output's natural range `map_range` (low < high, both finite), if it has one.
    pub range: Option<(f32, f32)>,
    /// What the values mean (`map_meaning`: depth, edges, saliency); empty when unsaid.
    pub meaning: String,
    /// For depth, which end is near (`map_near`), if said.
    pub near: Option<Near>,
}

/// A one-channel map model's contract: [`map_output`], then [`map_metadata`].
pub fn contract(description: &ModelDescription) -> Result<MapContract, Error> {
    let output = map_output(description)?;
    Ok(MapContract {
        output,
        ..map_metadata(description)?
    })
}

/// The output a map model is read from: the one metadata `map_output` names (Some), else the
/// first (None); checked to be float `[1,1,H,W]` or `[1,H,W]` (batch and channel 1 or
/// dynamic). The error says what the output is, to follow "is not a one-channel map model: ".
pub fn map_output(description: &ModelDescription) -> Result<Option<String>, Error> {
    let (output, named) = match description.metadata.get(keys::MAP_OUTPUT) {
        Some(name) => {
            let found = description.outputs.iter().find(|o| &o.name == name);
            let found = found.ok_or_else(|| {
                let names: Vec<&str> = description
                    .outputs
                    .iter()
                    .map(|o| o.name.as_str())
                    .collect();
                Error::settings(format!(
                    "metadata key '{}' is '{name}', but the model's outputs are {}",
                    keys::MAP_OUTPUT,
                    names.join(", ")
                ))
            })?;
            (found, Some(name.clone()))
        }
        None => (description.output()?, None),
    };
    check_one_channel(output)?;
    Ok(named)
}

/// What a map model's metadata says of its values (`map_range`, `map_meaning`, `map_near`),
/// each checked; the output is left None (see [`map_output`]).
pub fn map_metadata(description: &ModelDescription) -> Result<MapContract, Error> {
    let metadata = &description.metadata;
    let range = metadata
        .get(keys::MAP_RANGE)
        .map(|v| parse_range(keys::MAP_RANGE, v))
        .transpose()?;
    let near = match metadata
        .get(keys::MAP_NEAR)
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => None,
        Some(v) if v == "high" => Some(Near::High),
        Some(v) if v == "low" => Some(Near::Low),
        Some(_) => {
            return Err(Error::settings(format!(
                "metadata key '{}' is '{}'; expected 'high' (larger values are nearer) or 'low'",
                keys::MAP_NEAR,
                metadata[keys::MAP_NEAR]
            )));
        }
    };
    Ok(MapContract {
        output: None,
        range,
        meaning: metadata
            .get(keys::MAP_MEANING)
            .map_or_else(String::new, |m| m.trim().to_owned()),
        near,
    })
}

/// Refuses an output that is not one float channel, naming its shape.
fn check_one_channel(output: &OutputSpec) -> Result<(), Error> {
    let batch_ok = |n: &i64| *n == 1 || *n <= 0;
    let ok = output.is_float
        && match output.shape.as_slice() {
            [n, h, w] => batch_ok(n) && *h != 0 && *w != 0,
            [n, c, h, w] => batch_ok(n) && (*c == 1 || *c <= 0) && *h != 0 && *w != 0,
            _ => false,
        };
    if ok {
        return Ok(());
    }
    Err(Error::settings(format!(
        "its output '{}' {} {}; expected a float tensor [1,1,H,W] or [1,H,W]",
        output.name,
        if output.is_float {
            "has shape"
        } else {
            "is not float32, shape"
        },
        format_shape(&output.shape)
    )))
}

/// Parses "low,high" (spaces allowed) into finite numbers with low < high; the error names `key`.
pub fn parse_range(key: &str, value: &str) -> Result<(f32, f32), Error> {
    let bad = || {
        Error::settings(format!(
            "metadata key '{key}' is '{value}'; expected two finite numbers 'low,high' with low < high"
        ))
    };
    let mut parts = value.split(',').map(|p| p.trim().parse::<f32>());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(low)), Some(Ok(high)), None)
            if low.is_finite() && high.is_finite() && low < high =>
        {
            Ok((low, high))
        }
        _ => Err(bad()),
    }
}

// --- The model's result ------------------------------------------------------------------------

/// The frame's part of the model's map at model resolution, and its finite range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelMap {
    /// One plane (`classes` 1), row-major; NaN where the model gave NaN or an infinity.
    pub map: ScoreMap,
    /// The smallest finite value (0 when none is finite).
    pub min: f32,
    /// The largest finite value (0 when none is finite).
    pub max: f32,
}

impl ModelMap {
    /// Keeps the part of a map output (`shape` `[1,1,h,w]` or `[1,h,w]`, covering an input
    /// tensor of `tensor` size whose top-left `content` is the frame) that covers the frame,
    /// and its range.
    pub fn take(
        &mut self,
        shape: &[i64],
        values: &[f32],
        tensor: Size,
        content: Size,
    ) -> Result<(), Error> {
        let (out_h, out_w) = match *shape {
            [1, h, w] | [1, 1, h, w]
                if h > 0 && w > 0 && h.checked_mul(w) == i64::try_from(values.len()).ok() =>
            {
                (h as usize, w as usize)
            }
            _ => {
                return Err(Error::inference(format!(
                    "the model returned a map of shape {}; expected one channel, [1,1,H,W] or \
                     [1,H,W]",
                    format_shape(shape)
                )));
            }
        };
        let width = (content.width.saturating_mul(out_w) / tensor.width.max(1)).clamp(1, out_w);
        let height = (content.height.saturating_mul(out_h) / tensor.height.max(1)).clamp(1, out_h);
        let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
        let map = &mut self.map;
        map.classes = 1;
        map.width = width;
        map.height = height;
        map.values.clear();
        for row in values.chunks_exact(out_w).take(height) {
            map.values.extend(row[..width].iter().map(|&v| {
                if v.is_finite() {
                    min = min.min(v);
                    max = max.max(v);
                    v
                } else {
                    f32::NAN
                }
            }));
        }
        (self.min, self.max) = if min <= max { (min, max) } else { (0.0, 0.0) };
        Ok(())
    }
}

/// Keeps the frame's part of a one-channel map output (on the inference thread in
/// non-blocking mode).
#[derive(Debug, Clone, Default)]
pub struct MapTask {
    /// The output to read by name (metadata `map_output`); None: the first.
    output: Option<String>,
}

impl MapTask {
    /// The task for a model of `contract`.
    pub fn new(contract: &MapContract) -> Self {
        Self {
            output: contract.output.clone(),
        }
    }
}

impl Task for MapTask {
    type Output = ModelMap;

    fn read(
        &mut self,
        run: &RunOutput,
        layout: TensorLayout,
        out: &mut ModelMap,
    ) -> Result<(), Error> {
        out.take(run.shape, run.values, layout.tensor, layout.content)
    }

    fn outputs(&self) -> Option<(&str, Option<&str>)> {
        self.output.as_deref().map(|o| (o, None))
    }
}

// --- At frame size -----------------------------------------------------------------------------

/// The map at frame size, raw model values (normalised only when drawn, so that the range and
/// the colour map can change on every frame).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameMap {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` values, row-major.
    pub values: Vec<f32>,
}

impl FrameMap {
    /// `map` brought to `width` x `height` bilinearly (half-pixel centres, as ONNX `Resize`
    /// linear `half_pixel` and OpenCV's `INTER_LINEAR`); a copy when the sizes agree.
    pub fn upsample(
        &mut self,
        map: &ScoreMap,
        width: usize,
        height: usize,
        upsampler: &mut Upsampler,
    ) {
        self.width = width;
        self.height = height;
        self.values.resize(width.saturating_mul(height), 0.0);
        if (map.width, map.height) == (width, height) && map.values.len() == self.values.len() {
            self.values.copy_from_slice(&map.values);
            return;
        }
        let values = &mut self.values;
        upsampler.rows(map, width, height, |y, row| {
            if let Some(out) = values.get_mut(y * width..(y + 1) * width) {
                out.copy_from_slice(&row[..width]);
            }
        });
    }
}

/// The finite values of the newest model map, for its percentiles (kept between frames so that
/// nothing is allocated once sized; the last pair asked for is cached).
#[derive(Debug, Clone, Default)]
pub struct Percentiles {
    values: Vec<f32>,
    cached: Option<(f32, (f32, f32))>,
}

impl Percentiles {
    /// Takes the finite values of a new map (forgetting the cached pair).
    pub fn reset(&mut self, map: &ScoreMap) {
        self.values.clear();
        self.values
            .extend(map.values.iter().copied().filter(|v| v.is_finite()));
        self.cached = None;
    }

    /// The `p`-th and the `(100 - p)`-th percentiles (`p` clamped to 0..=50), interpolated
    /// linearly between the nearest ranks as numpy's `percentile` does by default; (0, 0) for
    /// a map with no finite value.
    pub fn range(&mut self, p: f32) -> (f32, f32) {
        let p = if p.is_finite() {
            p.clamp(0.0, 50.0)
        } else {
            0.0
        };
        if let Some((cached_p, range)) = self.cached
            && cached_p == p
        {
            return range;
        }
        let range = if self.values.is_empty() {
            (0.0, 0.0)
        } else {
            let q = f64::from(p) / 100.0;
            (
                quantile(&mut self.values, q),
                quantile(&mut self.values, 1.0 - q),
            )
        };
        self.cached = Some((p, range));
        range
    }
}

/// The `q` (0..=1) quantile of non-empty `values` (reordered), numpy's linear method.
fn quantile(values: &mut [f32], q: f64) -> f32 {
    let last = values.len().saturating_sub(1);
    let position = q.clamp(0.0, 1.0) * last as f64;
    let rank = (position.floor() as usize).min(last);
    let fraction = position - rank as f64;
    let (_, at, above) = values.select_nth_unstable_by(rank, f32::total_cmp);
    let at = *at;
    if fraction == 0.0 || above.is_empty() {
        return at;
    }
    let next = above.iter().copied().fold(f32::INFINITY, f32::min);
    (f64::from(at) + (f64::from(next) - f64::from(at)) * fraction) as f32
}

/// How a raw value becomes a position 0..=1 on the colour map: `(v - low) / (high - low)`,
/// clamped, then `1 - t` when inverted. A range that is empty or reversed (`high <= low`, a flat
/// map under min-max) puts every value at the low end (before inversion).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalisation {
    low: f32,
    scale: f32,
    invert: bool,
}

impl Normalisation {
    /// Values from `low` to `high` spread over 0..=1 (1..=0 when `invert`).
    pub fn new(low: f32, high: f32, invert: bool) -> Self {
        let span = high - low;
        let scale = if span > 0.0 && span.is_finite() {
            1.0 / span
        } else {
            0.0
        };
        Self {
            low: if low.is_finite() { low } else { 0.0 },
            scale,
            invert,
        }
    }

    /// The position of `v` (NaN stays NaN: the drawing puts it at the low end).
    #[inline(always)]
    pub fn unit(&self, v: f32) -> f32 {
        let t = ((v - self.low) * self.scale).clamp(0.0, 1.0);
        if self.invert { 1.0 - t } else { t }
    }
}

// --- Colour maps -------------------------------------------------------------------------------

/// The colour maps (matplotlib's names; tables from the `colorous` crate, gray computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colormap {
    /// Google's Turbo: a rainbow with perceptually smooth steps (depth's usual map).
    #[default]
    Turbo,
    /// Black, purple, orange, pale yellow.
    Inferno,
    /// Dark blue, green, yellow.
    Viridis,
    /// Black, purple, pink, pale yellow.
    Magma,
    /// Blue, purple, orange, yellow.
    Plasma,
    /// Black to white.
    Gray,
}

/// Entries of a colour map table: finer than a byte, so GRAY16-precise maps show no banding.
pub const LUT_STEPS: usize = 1024;

/// A colour map as a table of `LUT_STEPS` RGB colours, low end first.
pub type Lut = [[u8; 3]; LUT_STEPS];

impl Colormap {
    /// The table of this colour map, built once per process and colour map.
    pub fn lut(self) -> &'static Lut {
        static LUTS: [LazyLock<Lut>; 6] = [
            LazyLock::new(|| table(Some(colorous::TURBO))),
            LazyLock::new(|| table(Some(colorous::INFERNO))),
            LazyLock::new(|| table(Some(colorous::VIRIDIS))),
            LazyLock::new(|| table(Some(colorous::MAGMA))),
            LazyLock::new(|| table(Some(colorous::PLASMA))),
            LazyLock::new(|| table(None)),
        ];
        &LUTS[self as usize]
    }
}

/// The table of `gradient` (None: gray levels).
fn table(gradient: Option<colorous::Gradient>) -> Lut {
    let mut lut = [[0u8; 3]; LUT_STEPS];
    for (i, entry) in lut.iter_mut().enumerate() {
        let t = i as f64 / (LUT_STEPS - 1) as f64;
        *entry = match gradient {
            Some(g) => {
                let c = g.eval_continuous(t);
                [c.r, c.g, c.b]
            }
            None => [(t * 255.0 + 0.5) as u8; 3],
        };
    }
    lut
}

/// The table entry of position `t` (0..=1; NaN gives the first entry).
#[inline(always)]
fn step(t: f32) -> usize {
    // t >= 0, so + 0.5 then truncation rounds; a NaN casts to 0; min keeps it in the table.
    ((t * (LUT_STEPS - 1) as f32 + 0.5) as usize).min(LUT_STEPS - 1)
}

/// The colour of raw value `v` (for tests and tools; the drawing inlines the same).
pub fn colour_of(lut: &Lut, normalisation: &Normalisation, v: f32) -> [u8; 3] {
    lut[step(normalisation.unit(v))]
}

/// Draws `map` (at the frame's size) over `frame` through `lut`, blended with `opacity` (1:
/// the colour map replaces the frame). Alpha and padding bytes are left as they are.
pub fn draw_map(
    frame: &mut ImageMut,
    map: &FrameMap,
    lut: &Lut,
    normalisation: Normalisation,
    opacity: f32,
) {
    if map.width == 0 {
        return;
    }
    let pen = Pen {
        lut,
        normalisation,
        offsets: frame.layout.rgb_offsets,
        opacity_256: (opacity.clamp(0.0, 1.0) * 256.0 + 0.5) as u32,
    };
    let row_len = frame.layout.row_bytes(frame.width);
    let stride = frame.stride.max(1);
    let rows = frame.data.chunks_mut(stride).take(frame.height);
    for (row, values) in rows.zip(map.values.chunks_exact(map.width)) {
        let Some(row) = row.get_mut(..row_len) else {
            return;
        };
        match frame.layout.bytes_per_pixel {
            3 => pen.row::<3>(row, values),
            4 => pen.row::<4>(row, values),
            _ => return, // no other layout exists (see PixelLayout)
        }
    }
}

/// What drawing one pixel needs, resolved once per frame.
struct Pen<'a> {
    lut: &'a Lut,
    normalisation: Normalisation,
    offsets: [usize; 3],
    /// Opacity in 1/256ths (integer blending: within a level of the float formula).
    opacity_256: u32,
}

impl Pen<'_> {
    /// One row of `BPP`-byte pixels (the pixel size known at compile time, as in convert.rs).
    #[inline(always)]
    fn row<const BPP: usize>(&self, row: &mut [u8], values: &[f32]) {
        let [o0, o1, o2] = self.offsets;
        let a = self.opacity_256;
        let blend = |old: u8, new: u8| ((old as u32 * (256 - a) + new as u32 * a + 128) >> 8) as u8;
        for (px, &v) in row.chunks_exact_mut(BPP).zip(values) {
            let colour = self.lut[step(self.normalisation.unit(v))];
            if a >= 256 {
                (px[o0], px[o1], px[o2]) = (colour[0], colour[1], colour[2]);
            } else {
                px[o0] = blend(px[o0], colour[0]);
                px[o1] = blend(px[o1], colour[1]);
                px[o2] = blend(px[o2], colour[2]);
            }
        }
    }
}

/// The GRAY16 level of position `t` (0..=1; NaN gives 0).
#[inline(always)]
fn level16(t: f32) -> u16 {
    // t >= 0, so + 0.5 then truncation rounds; the cast saturates and takes NaN to 0.
    (t * f32::from(u16::MAX) + 0.5) as u16
}

/// Writes `map` as GRAY16_LE levels (the normalised position, 0..=65535) into rows `stride`
/// bytes apart.
pub fn write_gray16(map: &FrameMap, normalisation: Normalisation, out: &mut [u8], stride: usize) {
    if map.width == 0 {
        return;
    }
    let row_len = map.width.saturating_mul(2);
    let rows = out.chunks_mut(stride.max(1)).take(map.height);
    for (row, values) in rows.zip(map.values.chunks_exact(map.width)) {
        let Some(row) = row.get_mut(..row_len) else {
            return;
        };
        for (px, &v) in row.chunks_exact_mut(2).zip(values) {
            px.copy_from_slice(&level16(normalisation.unit(v)).to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::PixelLayout;
    use crate::inference::model::InputSpec;
    use std::collections::HashMap;

    fn size(width: usize, height: usize) -> Size {
        Size { width, height }
    }

    fn description(shape: &[i64], metadata: &[(&str, &str)]) -> ModelDescription {
        ModelDescription {
            input: InputSpec::validate("x", true, &[1, 3, -1, -1]).unwrap(),
            outputs: vec![OutputSpec {
                name: "y".into(),
                is_float: true,
                shape: shape.to_vec(),
            }],
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        }
    }

    #[test]
    fn one_channel_outputs_are_accepted_and_others_named_with_their_shape() {
        for shape in [
            &[1, 1, -1, -1][..],
            &[-1, 1, 8, 8],
            &[1, -1, -1, -1],
            &[1, -1, -1],
        ] {
            assert!(contract(&description(shape, &[])).is_ok(), "{shape:?}");
        }
        let e = contract(&description(&[1, 3, -1, -1], &[])).unwrap_err();
        assert_eq!(
            e,
            "its output 'y' has shape [1,3,?,?]; expected a float tensor [1,1,H,W] or [1,H,W]"
        );
        let e = contract(&description(&[1, 1, 0, 4], &[])).unwrap_err();
        assert!(e.message().contains("[1,1,0,4]"), "{e}");
        let e = contract(&description(&[1, 1], &[])).unwrap_err();
        assert!(e.message().contains("[1,1]"), "{e}");
    }

    #[test]
    fn metadata_is_read_and_malformed_values_name_the_key() {
        let c = contract(&description(
            &[1, 1, -1, -1],
            &[
                ("map_range", " -2.5, 10 "),
                ("map_meaning", " depth "),
                ("map_near", "LOW"),
            ],
        ))
        .unwrap();
        assert_eq!(c.range, Some((-2.5, 10.0)));
        assert_eq!(c.meaning, "depth");
        assert_eq!(c.near, Some(Near::Low));
        assert_eq!(c.output, None);
        let none = contract(&description(&[1, 1, -1, -1], &[])).unwrap();
        assert_eq!(
            (none.range, none.meaning.as_str(), none.near),
            (None, "", None)
        );
        for (key, value, expected) in [
            (
                "map_range",
                "1,1",
                "metadata key 'map_range' is '1,1'; expected two finite",
            ),
            ("map_range", "2,1", "'map_range' is '2,1'"),
            ("map_range", "0,inf", "'map_range' is '0,inf'"),
            ("map_range", "NaN,1", "'map_range' is 'NaN,1'"),
            ("map_range", "0-1", "'map_range' is '0-1'"),
            ("map_range", "0,1,2", "'map_range' is '0,1,2'"),
            (
                "map_near",
                "far",
                "metadata key 'map_near' is 'far'; expected 'high'",
            ),
            (
                "map_output",
                "depth",
                "metadata key 'map_output' is 'depth', but the model's outputs are y",
            ),
        ] {
            let e = contract(&description(&[1, 1, -1, -1], &[(key, value)])).unwrap_err();
            assert!(e.message().contains(expected), "{key}={value}: {e}");
        }
    }

    #[test]
    fn a_named_output_is_read_and_checked() {
        let mut d = description(&[1, 3, -1, -1], &[("map_output", "depth")]);
        d.outputs.push(OutputSpec {
            name: "depth".into(),
            is_float: true,
            shape: vec![1, -1, -1],
        });
        let c = contract(&d).unwrap();
        assert_eq!(c.output.as_deref(), Some("depth"));
        assert_eq!(MapTask::new(&c).outputs(), Some(("depth", None)));
        d.outputs[1].is_float = false;
        let e = contract(&d).unwrap_err();
        assert!(
            e.message()
                .starts_with("its output 'depth' is not float32, shape [1,?,?]"),
            "{e}"
        );
    }

    #[test]
    fn take_keeps_the_frames_part_and_its_finite_range() {
        // A 4x3 output for a 4x3 tensor whose top-left 3x2 is the frame.
        let values: Vec<f32> = vec![
            1.0,
            f32::NAN,
            3.0,
            99.0, //
            -4.0,
            f32::INFINITY,
            6.0,
            99.0, //
            99.0,
            99.0,
            99.0,
            99.0,
        ];
        let mut m = ModelMap::default();
        m.take(&[1, 1, 3, 4], &values, size(4, 3), size(3, 2))
            .unwrap();
        assert_eq!((m.map.width, m.map.height, m.map.classes), (3, 2, 1));
        assert_eq!((m.min, m.max), (-4.0, 6.0));
        let kept: Vec<String> = m.map.values.iter().map(|v| v.to_string()).collect();
        assert_eq!(kept, ["1", "NaN", "3", "-4", "NaN", "6"]);
        // A half-resolution output covers half the frame's part.
        m.take(&[1, 2, 2], &[1.0, 2.0, 3.0, 4.0], size(4, 4), size(2, 4))
            .unwrap();
        assert_eq!((m.map.width, m.map.height), (1, 2));
        assert_eq!(m.map.values, [1.0, 3.0]);
        // Nothing finite: the range is (0, 0).
        m.take(&[1, 1, 1, 1], &[f32::NAN], size(1, 1), size(1, 1))
            .unwrap();
        assert_eq!((m.min, m.max), (0.0, 0.0));
        let e = m
            .take(&[1, 3, 2, 2], &[0.0; 12], size(2, 2), size(2, 2))
            .unwrap_err();
        assert_eq!(
            e,
            "the model returned a map of shape [1,3,2,2]; expected one channel, [1,1,H,W] or [1,H,W]"
        );
        assert!(
            m.take(&[1, 1, 2, 2], &[0.0; 3], size(2, 2), size(2, 2))
                .is_err()
        );
    }

    #[test]
    fn percentiles_interpolate_between_ranks_as_numpy_does() {
        let mut map = ScoreMap {
            classes: 1,
            width: 11,
            height: 1,
            // 0..=10 shuffled, and a NaN that is skipped.
            values: vec![7.0, 3.0, 10.0, 0.0, 5.0, 1.0, 9.0, 2.0, 8.0, 6.0, 4.0],
        };
        map.values.push(f32::NAN);
        let mut p = Percentiles::default();
        p.reset(&map);
        assert_eq!(p.range(0.0), (0.0, 10.0));
        // numpy.percentile(range(11), [2, 98]) == [0.2, 9.8]
        let (low, high) = p.range(2.0);
        assert!(
            (low - 0.2).abs() < 1e-6 && (high - 9.8).abs() < 1e-6,
            "{low} {high}"
        );
        assert_eq!(p.range(50.0), (5.0, 5.0));
        assert_eq!(p.range(80.0), (5.0, 5.0), "clamped to 50");
        p.reset(&ScoreMap::default());
        assert_eq!(p.range(2.0), (0.0, 0.0));
    }

    #[test]
    fn normalisation_clamps_inverts_and_keeps_nan_at_the_low_end() {
        let n = Normalisation::new(2.0, 6.0, false);
        assert_eq!(
            [n.unit(2.0), n.unit(4.0), n.unit(9.0), n.unit(-1.0)],
            [0.0, 0.5, 1.0, 0.0]
        );
        let inv = Normalisation::new(2.0, 6.0, true);
        assert_eq!([inv.unit(2.0), inv.unit(5.0)], [1.0, 0.25]);
        assert!(n.unit(f32::NAN).is_nan() && inv.unit(f32::NAN).is_nan());
        let flat = Normalisation::new(3.0, 3.0, false);
        assert_eq!([flat.unit(3.0), flat.unit(100.0)], [0.0, 0.0]);
        let lut = Colormap::Turbo.lut();
        assert_eq!(colour_of(lut, &inv, f32::NAN), lut[0]);
        assert_eq!(level16(f32::NAN), 0);
        assert_eq!(level16(1.0), u16::MAX);
        assert_eq!(level16(0.5), 32768);
    }

    #[test]
    fn tables_run_from_the_low_to_the_high_end() {
        let gray = Colormap::Gray.lut();
        assert_eq!((gray[0], gray[LUT_STEPS - 1]), ([0; 3], [255; 3]));
        let viridis = Colormap::Viridis.lut();
        // matplotlib's viridis: #440154 at 0, #fde725 at 1.
        assert!(
            viridis[0]
                .iter()
                .zip([0x44, 0x01, 0x54])
                .all(|(a, b)| a.abs_diff(b) <= 2)
        );
        assert!(
            viridis[LUT_STEPS - 1]
                .iter()
                .zip([0xfd, 0xe7, 0x25])
                .all(|(a, b)| a.abs_diff(b) <= 2)
        );
        assert_ne!(Colormap::Magma.lut()[512], Colormap::Plasma.lut()[512]);
    }

    #[test]
    fn upsampling_copies_same_sizes_and_interpolates_others() {
        let map = ScoreMap {
            classes: 1,
            width: 2,
            height: 1,
            values: vec![0.0, 1.0],
        };
        let mut up = Upsampler::default();
        let mut frame = FrameMap::default();
        frame.upsample(&map, 2, 1, &mut up);
        assert_eq!(frame.values, [0.0, 1.0]);
        frame.upsample(&map, 4, 2, &mut up);
        assert_eq!(frame.values, [0.0, 0.25, 0.75, 1.0, 0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn drawing_replaces_or_blends_and_leaves_other_bytes() {
        let map = FrameMap {
            width: 2,
            height: 2,
            values: vec![0.0, 1.0, f32::NAN, 0.5],
        };
        let lut = Colormap::Gray.lut();
        let n = Normalisation::new(0.0, 1.0, false);
        // RGBx, stride 10 (2 padding bytes per row).
        let mut data = vec![100u8; 20];
        let mut frame = ImageMut {
            data: &mut data,
            width: 2,
            height: 2,
            stride: 10,
            layout: PixelLayout::RGBA,
        };
        draw_map(&mut frame, &map, lut, n, 1.0);
        assert_eq!(&data[..10], [0, 0, 0, 100, 255, 255, 255, 100, 100, 100]);
        assert_eq!(&data[10..18], [0, 0, 0, 100, 128, 128, 128, 100]);
        let mut data = vec![100u8; 12];
        let mut frame = ImageMut {
            data: &mut data,
            width: 2,
            height: 2,
            stride: 6,
            layout: PixelLayout::RGB,
        };
        draw_map(&mut frame, &map, lut, n, 0.5);
        assert_eq!(&data[..6], [50, 50, 50, 178, 178, 178]);

        let mut gray = vec![0xEEu8; 2 * 6];
        write_gray16(&map, Normalisation::new(0.0, 1.0, true), &mut gray, 6);
        let level = |i: usize| u16::from_le_bytes([gray[i], gray[i + 1]]);
        assert_eq!(
            [level(0), level(2), level(6), level(8)],
            [65535, 0, 0, 32768]
        );
        assert_eq!(&gray[4..6], [0xEE, 0xEE], "row padding untouched");
    }
}
