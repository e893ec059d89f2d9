// SPDX-License-Identifier: MIT OR Apache-2.0
//! Super-resolution: a model whose output is its input enlarged by a whole factor, colour
//! (`[1,3,H,W]` -> `[1,3,sH,sW]`) or luma only (`[1,1,H,W]` -> `[1,1,sH,sW]`, as ESPCN and
//! VDSR work on Y').
//!
//! The output frame is drawn in two steps. Its base is the input frame enlarged bicubically
//! (Catmull-Rom, the `bicubic` of PIL and MATLAB), which supplies alpha and, for a luma model,
//! the colour. A colour model's output then replaces the colour bytes; a luma model's Y' is put
//! into each pixel by adding `Y'(model) - Y'(base)` to R, G and B: the conversion to and from
//! Y'CbCr is linear, so that keeps the base's Cb and Cr exactly (up to clamping) without
//! computing them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fast_image_resize as fir;

use super::convert::{ImageMut, ImageRef};
use super::error::Error;
use super::image_output::{DecodedImage, ImageOutput, decode_image};
use super::model::{Luma, Preprocessing, format_shape};
use super::resize::{Resizer, Size};
use super::runner::Task;
use super::session::RunOutput;
use super::tensor_input::TensorLayout;

/// The largest output side the element makes (GStreamer's video elements commonly stop there).
pub const MAX_OUTPUT_SIDE: usize = 16384;

/// The model's enlargement factor, shared between the task (which learns it from the output
/// at start) and the element (which scales caps by it). 0 while unknown.
#[derive(Debug, Clone, Default)]
pub struct ScaleFactor(Arc<AtomicUsize>);

impl ScaleFactor {
    /// The factor, once known.
    pub fn get(&self) -> Option<usize> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            s => Some(s),
        }
    }

    fn set(&self, factor: usize) {
        self.0.store(factor, Ordering::Relaxed);
    }
}

/// `side` times `factor`, when that is a side the element makes.
pub fn scaled_side(side: usize, factor: usize) -> Option<usize> {
    side.checked_mul(factor)
        .filter(|s| (1..=MAX_OUTPUT_SIDE).contains(s))
}

/// Parses the metadata `scale`: a whole factor of at least 1.
pub fn parse_scale(value: &str) -> Result<usize, Error> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|s| (1..=64).contains(s))
        .ok_or_else(|| {
            Error::settings(format!(
                "metadata key 'scale' is '{}'; expected a whole factor from 1 to 64",
                value.trim()
            ))
        })
}

/// Keeps the frame's part of a super-resolved output, checking that it is the input enlarged
/// by one whole factor (the declared one, or the first one seen).
pub struct SuperResTask {
    channels: usize,
    declared: Option<usize>,
    factor: ScaleFactor,
}

impl SuperResTask {
    /// A task for a model of `channels` (3 or 1) in and out, whose metadata may declare its
    /// factor; `factor` receives the factor found.
    pub fn new(channels: usize, declared: Option<usize>, factor: ScaleFactor) -> Self {
        if let Some(s) = declared {
            factor.set(s);
        }
        Self {
            channels,
            declared,
            factor,
        }
    }

    /// The whole factor by which `shape` enlarges a `tensor`-sized input.
    fn factor_of(&self, shape: &[i64], tensor: Size) -> Result<usize, Error> {
        let channels = self.channels;
        let input = format!("[1,{channels},{},{}]", tensor.height, tensor.width);
        let not_whole = || {
            Error::inference(format!(
                "its output {} on a {input} input is not the input enlarged by one whole factor",
                format_shape(shape)
            ))
        };
        let [1, c, h, w] = *shape else {
            return Err(Error::inference(format!(
                "the model returned an output of shape {}; expected [1,{channels},sH,sW]",
                format_shape(shape)
            )));
        };
        if c != channels as i64 {
            return Err(Error::inference(format!(
                "its output {} has {c} channels on a {input} input; expected {channels} (a \
                 {} model gives what it takes)",
                format_shape(shape),
                if channels == 1 { "luma" } else { "colour" }
            )));
        }
        let (h, w) = (
            usize::try_from(h).map_err(|_| not_whole())?,
            usize::try_from(w).map_err(|_| not_whole())?,
        );
        let whole = |out: usize, side: usize| {
            (side > 0 && out >= side && out.is_multiple_of(side)).then(|| out / side)
        };
        match (whole(h, tensor.height), whole(w, tensor.width)) {
            (Some(sh), Some(sw)) if sh == sw => Ok(sh),
            _ => Err(not_whole()),
        }
    }
}

impl Task for SuperResTask {
    type Output = DecodedImage;

    fn read(
        &mut self,
        run: &RunOutput,
        layout: TensorLayout,
        out: &mut DecodedImage,
    ) -> Result<(), Error> {
        let found = self.factor_of(run.shape, layout.tensor)?;
        match (self.declared, self.factor.get()) {
            (Some(declared), _) if declared != found => {
                return Err(Error::inference(format!(
                    "its metadata says scale {declared}, but its output {} on a {}x{} input is \
                     {found} times larger",
                    format_shape(run.shape),
                    layout.tensor.width,
                    layout.tensor.height
                )));
            }
            (None, Some(known)) if known != found => {
                return Err(Error::inference(format!(
                    "its output {} on a {}x{} input is {found} times larger, but it was {known} \
                     times larger at start",
                    format_shape(run.shape),
                    layout.tensor.width,
                    layout.tensor.height
                )));
            }
            _ => self.factor.set(found),
        }
        decode_image(run.shape, run.values, self.channels, layout, out)
    }
}

/// Draws super-resolved images into output frames, keeping its buffers between frames.
pub struct SuperResOutput {
    /// Colour models: the image into the frame.
    colour: ImageOutput,
    /// Luma models: the full-scale level of the output range, and the luma weights.
    to_level: f32,
    luma: Luma,
    /// The bicubic enlargement of the input, packed (the base of every output frame).
    base: Vec<u8>,
    /// A copy of an input whose rows are padded (the resizer reads packed images).
    packed_input: Vec<u8>,
    bicubic: fir::Resizer,
    /// Luma models whose output is not the frame's size (fixed-size models): Y' resized.
    resized_y: Vec<f32>,
    resizer: Resizer,
}

impl SuperResOutput {
    /// The output for a model pre-processed by `pre` (output range, channel order, luma).
    pub fn new(pre: &Preprocessing) -> Self {
        Self {
            colour: ImageOutput::new(pre),
            to_level: 255.0 / pre.output_range.full_scale(),
            luma: pre.luma,
            base: Vec::new(),
            packed_input: Vec::new(),
            bicubic: fir::Resizer::new(),
            resized_y: Vec::new(),
            resizer: Resizer::default(),
        }
    }

    /// Writes the output frame `out` from `image` (the model's result for `input`); `alpha`:
    /// the format has alpha, to be enlarged with the frame (RGBx's padding byte needs nothing).
    pub fn draw(
        &mut self,
        image: &DecodedImage,
        input: &ImageRef,
        out: &mut ImageMut,
        alpha: bool,
    ) -> Result<(), Error> {
        let needs_base = image.channels == 1 || alpha;
        if needs_base {
            self.enlarge(input, out)?;
            copy_rows(&self.base, out);
        }
        if image.channels == 3 {
            return self.colour.draw(image, out, 1.0);
        }
        let out_size = Size {
            width: out.width,
            height: out.height,
        };
        let y: &[f32] = if image.size == out_size {
            &image.values
        } else {
            self.resized_y.resize(out.width * out.height, 0.0);
            self.resizer
                .resize_f32(&image.values, image.size, &mut self.resized_y, out_size)?;
            &self.resized_y
        };
        put_luma(y, self.to_level, self.luma, out);
        Ok(())
    }

    /// Writes the output frame `out` as the bicubic enlargement of `input` alone (a frame
    /// without the model's result).
    pub fn draw_bicubic(&mut self, input: &ImageRef, out: &mut ImageMut) -> Result<(), Error> {
        self.enlarge(input, out)?;
        copy_rows(&self.base, out);
        Ok(())
    }

    /// The bicubic enlargement of `input` to `out`'s size, packed in `self.base` in `out`'s
    /// layout (both frames share it).
    fn enlarge(&mut self, input: &ImageRef, out: &ImageMut) -> Result<(), Error> {
        let bpp = input.layout.bytes_per_pixel;
        let pixel = match bpp {
            3 => fir::PixelType::U8x3,
            _ => fir::PixelType::U8x4,
        };
        let side = |n: usize| u32::try_from(n).map_err(|e| Error::inference(e.to_string()));
        // The input rows, stride apart: fast_image_resize reads a packed image, so a padded
        // input is viewed row by row through a packed copy only when it has padding.
        let row_bytes = input.layout.row_bytes(input.width);
        let src: &[u8] = if input.stride == row_bytes {
            &input.data[..row_bytes * input.height]
        } else {
            self.packed_input.clear();
            for row in input.data.chunks(input.stride).take(input.height) {
                self.packed_input.extend_from_slice(&row[..row_bytes]);
            }
            &self.packed_input
        };
        let src = fir::images::ImageRef::new(side(input.width)?, side(input.height)?, src, pixel)
            .map_err(|e| Error::inference(format!("bicubic source: {e}")))?;
        self.base
            .resize(out.layout.row_bytes(out.width) * out.height, 0);
        let mut dst = fir::images::Image::from_slice_u8(
            side(out.width)?,
            side(out.height)?,
            &mut self.base,
            pixel,
        )
        .map_err(|e| Error::inference(format!("bicubic destination: {e}")))?;
        // Every byte resized alike: alpha is not always the last byte (ARGB), and the colour
        // of a translucent pixel must not be premultiplied.
        let options = fir::ResizeOptions::new()
            .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::CatmullRom))
            .use_alpha(false);
        self.bicubic
            .resize(&src, &mut dst, &options)
            .map_err(|e| Error::inference(format!("bicubic enlargement failed: {e}")))
    }
}

/// Copies packed rows into `out`, whose rows are `out.stride` apart.
fn copy_rows(packed: &[u8], out: &mut ImageMut) {
    let row_bytes = out.layout.row_bytes(out.width);
    for (dst, src) in out
        .data
        .chunks_mut(out.stride)
        .zip(packed.chunks_exact(row_bytes))
        .take(out.height)
    {
        dst[..row_bytes].copy_from_slice(src);
    }
}

/// Replaces the luma of every pixel of `out` by `y` (one value a pixel, row-major, times
/// `to_level` for 0..255), keeping its chroma: R, G and B each move by the luma difference.
fn put_luma(y: &[f32], to_level: f32, luma: Luma, out: &mut ImageMut) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { put_luma_avx2(y, to_level, luma, out) };
        return;
    }
    put_luma_any(y, to_level, luma, out);
}

/// [`put_luma`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn put_luma_avx2(y: &[f32], to_level: f32, luma: Luma, out: &mut ImageMut) {
    put_luma_any(y, to_level, luma, out);
}

#[inline(always)]
fn put_luma_any(y: &[f32], to_level: f32, luma: Luma, out: &mut ImageMut) {
    let weights = luma.weights();
    let layout = out.layout;
    let width = out.width;
    for (row, y_row) in out
        .data
        .chunks_mut(out.stride)
        .zip(y.chunks_exact(width))
        .take(out.height)
    {
        let row = &mut row[..layout.row_bytes(width)];
        match layout.bytes_per_pixel {
            3 => luma_row::<3>(row, y_row, to_level, weights, layout.rgb_offsets),
            4 => luma_row::<4>(row, y_row, to_level, weights, layout.rgb_offsets),
            n => unreachable!("no {n}-byte pixel layout"),
        }
    }
}

/// Pixels done at a time: the gathers and scatters stay scalar, the arithmetic on the runs
/// vectorises.
const RUN: usize = 64;

#[inline(always)]
fn luma_row<const BPP: usize>(
    row: &mut [u8],
    y_row: &[f32],
    to_level: f32,
    [kr, kg, kb]: [f32; 3],
    offsets: [usize; 3],
) {
    let mut rgb = [[0f32; RUN]; 3];
    for (pixels, ys) in row.chunks_mut(RUN * BPP).zip(y_row.chunks(RUN)) {
        let n = ys.len().min(pixels.len() / BPP);
        for (i, px) in pixels.chunks_exact(BPP).take(n).enumerate() {
            for (c, o) in offsets.into_iter().enumerate() {
                rgb[c][i] = f32::from(px[o]);
            }
        }
        let mut d = [0f32; RUN];
        for (i, (d, y)) in d.iter_mut().zip(ys).enumerate() {
            let v = y * to_level - (kr * rgb[0][i] + kg * rgb[1][i] + kb * rgb[2][i]);
            // NaN (a broken model) becomes no change: the bicubic base, never a NaN level.
            *d = if v.is_nan() { 0.0 } else { v };
        }
        let mut levels = [[0u8; RUN]; 3];
        for (out, plane) in levels.iter_mut().zip(&rgb) {
            for ((o, v), d) in out[..n].iter_mut().zip(&plane[..n]).zip(&d[..n]) {
                *o = level(v + d);
            }
        }
        for (i, px) in pixels.chunks_exact_mut(BPP).take(n).enumerate() {
            for (c, o) in offsets.into_iter().enumerate() {
                px[o] = levels[c][i];
            }
        }
    }
}

/// Rounds to a byte, clamped to 0..=255 (written so that it vectorises, as
/// `convert::to_level`).
#[inline(always)]
fn level(v: f32) -> u8 {
    let x = v + 0.5;
    let x = if x >= 0.0 { x } else { 0.0 };
    let x = if x <= 255.0 { x } else { 255.0 };
    // SAFETY: x is finite (d is never NaN, levels are finite) and within 0..=255 here.
    unsafe { x.to_int_unchecked::<i32>() as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::PixelLayout;

    fn run(shape: &[i64], values: &[f32]) -> (Vec<i64>, Vec<f32>) {
        (shape.to_vec(), values.to_vec())
    }

    fn layout(channels: usize, width: usize, height: usize) -> TensorLayout {
        let size = Size { width, height };
        TensorLayout {
            channels,
            tensor: size,
            content: size,
        }
    }

    fn read(task: &mut SuperResTask, shape: &[i64], tensor: TensorLayout) -> Result<(), Error> {
        let len: i64 = shape.iter().product();
        let (shape, values) = run(shape, &vec![0.5; len.max(0) as usize]);
        let input = vec![0.0; tensor.channels * tensor.tensor.width * tensor.tensor.height];
        let run = RunOutput {
            input: &input,
            shape: &shape,
            values: &values,
            non_finite: 0,
            second: None,
        };
        task.read(&run, tensor, &mut DecodedImage::default())
    }

    #[test]
    fn the_factor_is_learnt_from_the_output_and_must_stay() {
        let factor = ScaleFactor::default();
        let mut task = SuperResTask::new(1, None, factor.clone());
        assert_eq!(factor.get(), None);
        read(&mut task, &[1, 1, 146, 194], layout(1, 97, 73)).unwrap();
        assert_eq!(factor.get(), Some(2));
        let e = read(&mut task, &[1, 1, 30, 30], layout(1, 10, 10)).unwrap_err();
        assert!(e.message().contains("3 times larger, but it was 2"), "{e}");
    }

    #[test]
    fn outputs_that_are_not_a_whole_enlargement_are_refused_with_the_shapes() {
        let mut task = SuperResTask::new(3, None, ScaleFactor::default());
        let e = read(&mut task, &[1, 3, 109, 145], layout(3, 97, 73)).unwrap_err();
        assert!(
            e.message()
                .contains("output [1,3,109,145] on a [1,3,73,97] input is not the input enlarged"),
            "{e}"
        );
        let e = read(&mut task, &[1, 3, 146, 291], layout(3, 97, 73)).unwrap_err();
        assert!(e.message().contains("not the input enlarged"), "{e}");
        let e = read(&mut task, &[1, 1, 146, 194], layout(3, 97, 73)).unwrap_err();
        assert!(e.message().contains("has 1 channels"), "{e}");
    }

    #[test]
    fn a_declared_factor_is_checked() {
        let factor = ScaleFactor::default();
        let mut task = SuperResTask::new(3, Some(4), factor.clone());
        assert_eq!(factor.get(), Some(4));
        let e = read(&mut task, &[1, 3, 146, 194], layout(3, 97, 73)).unwrap_err();
        assert!(e.message().contains("metadata says scale 4"), "{e}");
    }

    #[test]
    fn scaled_sides_stop_at_the_largest_output() {
        assert_eq!(scaled_side(8192, 2), Some(16384));
        assert_eq!(scaled_side(8193, 2), None);
        assert_eq!(scaled_side(usize::MAX, 2), None);
        assert!(parse_scale("0").is_err() && parse_scale("x").is_err());
        assert_eq!(parse_scale(" 3 ").unwrap(), 3);
    }

    #[test]
    fn luma_replacement_keeps_the_chroma() {
        // One reddish pixel; the model says Y' = 0.5.
        let mut data = [200u8, 40, 60];
        let mut out = ImageMut {
            data: &mut data,
            width: 1,
            height: 1,
            stride: 3,
            layout: PixelLayout::RGB,
        };
        put_luma(&[0.5], 255.0, Luma::Bt601, &mut out);
        let [r, g, b] = data.map(f32::from);
        let y = 0.299 * r + 0.587 * g + 0.114 * b;
        assert!((y - 127.5).abs() <= 0.5, "Y' {y}");
        // Differences between channels (hence Cb and Cr) unchanged, up to rounding.
        assert!(((r - g) - 160.0).abs() <= 1.0 && ((b - g) - 20.0).abs() <= 1.0);
    }
}
