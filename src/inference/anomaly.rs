// SPDX-License-Identifier: MIT OR Apache-2.0
//! Reconstruction error of an anomaly autoencoder: per pixel, (1 - w) x L2 over channels +
//! w x (1 - SSIM), the definition models/ calibrates `error_scale` with; smoothed; divided by
//! `error_scale`, so 1.0 is the error level of normal data. Plus the frame score and drawing.

use super::error::Error;
use std::sync::LazyLock;

use super::convert::ImageMut;
use super::model::format_shape;
use super::resize::{Resizer, Size};

/// SSIM window: Gaussian, sigma 1.5, 11 taps (Wang et al. 2004).
const SSIM_SIGMA: f32 = 1.5;
/// Smoothing of the error map before it is shown and scored.
const SMOOTH_SIGMA: f32 = 1.0;

/// A per-pixel error map in units of `error_scale`, row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorMap {
    /// Columns of the map.
    pub width: usize,
    /// Rows of the map.
    pub height: usize,
    /// `width * height` errors, row-major; 1.0 is the error level of normal data, 0 is none.
    pub values: Vec<f32>,
    /// The frame score the model gave itself (its score output, normalised like the map),
    /// when it has one; else the score is a percentile of the map.
    pub model_score: Option<f32>,
    /// Planes reused from frame to frame so that computing allocates nothing once sized.
    scratch: Scratch,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Scratch {
    input: [Vec<f32>; 3],
    reconstruction: [Vec<f32>; 3],
    /// The error before smoothing.
    raw_error: Vec<f32>,
    ssim_sum: Vec<f32>,
    blurred: [Vec<f32>; 5],
    blur: Blur,
}

/// A planar 3-channel image at model resolution, with its plane size and, per channel, the
/// `scale` and `offset` that bring its values into 0..1 (`v * scale + offset`).
pub struct Planes<'a> {
    /// The tensor `[1,3,plane_height,plane_width]`, planar: all of channel 0, then 1, then 2.
    pub values: &'a [f32],
    /// Columns of each plane.
    pub plane_width: usize,
    /// Rows of each plane.
    pub plane_height: usize,
    /// Per channel, `(scale, offset)` such that `v * scale + offset` is in 0..1.
    pub to_unit: [(f32, f32); 3],
}

impl Planes<'_> {
    /// Copies the top-left `width` x `height` of channel `c`, in 0..1, into `out`.
    #[inline(always)]
    fn crop_into(&self, c: usize, width: usize, height: usize, out: &mut Vec<f32>) {
        let plane = &self.values[c * self.plane_width * self.plane_height..];
        let (scale, offset) = self.to_unit[c];
        out.clear();
        for row in plane.chunks(self.plane_width).take(height) {
            out.extend(row[..width].iter().map(|v| v * scale + offset));
        }
    }
}

impl ErrorMap {
    /// Computes the error of the top-left `width` x `height` between `input` and
    /// `reconstruction`, normalised by `error_scale`.
    pub fn compute(
        &mut self,
        input: &Planes,
        reconstruction: &Planes,
        width: usize,
        height: usize,
        ssim_weight: f32,
        error_scale: f32,
    ) -> Result<(), Error> {
        self.model_score = None;
        for (name, p) in [("input", input), ("reconstruction", reconstruction)] {
            if p.values.len() < 3 * p.plane_width * p.plane_height
                || width > p.plane_width
                || height > p.plane_height
                || width == 0
                || height == 0
            {
                return Err(Error::inference(format!(
                    "the {name} does not cover a {width}x{height} region"
                )));
            }
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { self.compute_avx2(input, reconstruction, width, height, ssim_weight) };
            self.normalise(error_scale);
            return Ok(());
        }
        self.compute_checked(input, reconstruction, width, height, ssim_weight);
        self.normalise(error_scale);
        Ok(())
    }

    /// The same code as `compute_checked`, compiled for AVX2 (8 floats per instruction, where
    /// the baseline x86-64 target has 4); the error map is compute bound.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn compute_avx2(
        &mut self,
        input: &Planes,
        reconstruction: &Planes,
        width: usize,
        height: usize,
        ssim_weight: f32,
    ) {
        self.compute_checked(input, reconstruction, width, height, ssim_weight)
    }

    /// The smoothed, unnormalised error of a region `compute` has checked.
    #[inline(always)]
    fn compute_checked(
        &mut self,
        input: &Planes,
        reconstruction: &Planes,
        width: usize,
        height: usize,
        ssim_weight: f32,
    ) {
        let n = width * height;
        let s = &mut self.scratch;
        for c in 0..3 {
            input.crop_into(c, width, height, &mut s.input[c]);
            reconstruction.crop_into(c, width, height, &mut s.reconstruction[c]);
        }
        // L2 over channels.
        let [a0, a1, a2] = &s.input;
        let [b0, b1, b2] = &s.reconstruction;
        let raw = &mut s.raw_error;
        raw.resize(n, 0.0);
        for i in 0..n {
            let (d0, d1, d2) = (a0[i] - b0[i], a1[i] - b1[i], a2[i] - b2[i]);
            raw[i] = (1.0 - ssim_weight) * (d0 * d0 + d1 * d1 + d2 * d2).sqrt();
        }
        if ssim_weight > 0.0 {
            for c in 0..3 {
                add_ssim(s, c, width, height);
            }
            for (e, sum) in s.raw_error.iter_mut().zip(&s.ssim_sum) {
                *e += ssim_weight * (1.0 - sum / 3.0).max(0.0);
            }
        }
        s.blur.run(
            Source::Plane(&s.raw_error),
            width,
            height,
            SMOOTH_SIGMA,
            &mut self.values,
        );
        self.width = width;
        self.height = height;
    }

    /// Takes a model's own anomaly map (`shape` `[1,1,h,w]` or `[1,h,w]`, covering an input
    /// tensor of `tensor` size whose top-left `content` is the frame): its frame's part,
    /// divided by `error_scale`, and the first value of `score`, likewise.
    pub fn take_map(
        &mut self,
        (shape, values): (&[i64], &[f32]),
        (tensor, content): (Size, Size),
        error_scale: f32,
        score: Option<&[f32]>,
    ) -> Result<(), Error> {
        let (out_h, out_w) = match *shape {
            [1, h, w] | [1, 1, h, w] if h > 0 && w > 0 && values.len() == (h * w) as usize => {
                (h as usize, w as usize)
            }
            _ => {
                return Err(Error::inference(format!(
                    "the model returned an anomaly map of shape {}; expected [1,1,H,W] or [1,H,W]",
                    format_shape(shape)
                )));
            }
        };
        let width = (content.width * out_w / tensor.width.max(1)).clamp(1, out_w);
        let height = (content.height * out_h / tensor.height.max(1)).clamp(1, out_h);
        self.width = width;
        self.height = height;
        self.values.clear();
        for row in values.chunks_exact(out_w).take(height) {
            self.values.extend_from_slice(&row[..width]);
        }
        self.normalise(error_scale);
        self.model_score = match score {
            Some([first, ..]) if first.is_finite() => {
                Some(first / error_scale.max(f32::MIN_POSITIVE))
            }
            Some(_) => Some(0.0),
            None => None,
        };
        Ok(())
    }

    fn normalise(&mut self, error_scale: f32) {
        let scale = error_scale.max(f32::MIN_POSITIVE);
        for e in self.values.iter_mut() {
            *e = if e.is_finite() { *e / scale } else { 0.0 };
        }
    }

    /// The frame's anomaly score: the `percentile` (0..100) of the normalised error.
    /// (`scratch` is the caller's, so that nothing is allocated per frame.)
    pub fn score(&self, percentile: f32, scratch: &mut Vec<f32>) -> f32 {
        if self.values.is_empty() {
            return 0.0;
        }
        scratch.clear();
        scratch.extend_from_slice(&self.values);
        let k =
            ((percentile.clamp(0.0, 100.0) / 100.0) * (scratch.len() - 1) as f32).round() as usize;
        let (_, v, _) = scratch.select_nth_unstable_by(k, f32::total_cmp);
        *v
    }

    /// This map resized (bilinear) to `width` x `height`, into `out`.
    pub fn resize_into(
        &self,
        width: usize,
        height: usize,
        out: &mut ErrorMap,
        resizer: &mut Resizer,
    ) -> Result<(), Error> {
        out.width = width;
        out.height = height;
        out.values.resize(width * height, 0.0);
        if (width, height) == (self.width, self.height) {
            out.values.copy_from_slice(&self.values);
            return Ok(());
        }
        let size = |width, height| Size { width, height };
        resizer.resize_f32(
            &self.values,
            size(self.width, self.height),
            &mut out.values,
            size(width, height),
        )
    }

    /// The value for frame pixel (x, y) of a `width` x `height` frame (nearest sample).
    fn at_frame(&self, x: usize, y: usize, width: usize, height: usize) -> f32 {
        let sx = ((2 * x + 1) * self.width / (2 * width)).min(self.width - 1);
        let sy = ((2 * y + 1) * self.height / (2 * height)).min(self.height - 1);
        self.values[sy * self.width + sx]
    }
}

/// Adds channel `c`'s per-pixel SSIM to `s.ssim_sum` (channel 0 starts it).
#[inline(always)]
fn add_ssim(s: &mut Scratch, c: usize, width: usize, height: usize) {
    let (a, b) = (&s.input[c], &s.reconstruction[c]);
    let sources = [
        Source::Plane(a),
        Source::Plane(b),
        Source::Product(a, a),
        Source::Product(b, b),
        Source::Product(a, b),
    ];
    for (source, target) in sources.into_iter().zip(&mut s.blurred) {
        s.blur.run(source, width, height, SSIM_SIGMA, target);
    }
    let [mu_a, mu_b, aa, bb, ab] = &s.blurred;
    let (c1, c2) = (0.01f32.powi(2), 0.03f32.powi(2));
    let sum = &mut s.ssim_sum;
    sum.resize(a.len(), 0.0);
    let first = c == 0;
    let moments = mu_a
        .iter()
        .zip(mu_b.iter())
        .zip(aa.iter().zip(bb.iter()).zip(ab.iter()));
    for (v, ((&ma, &mb), ((&aa, &bb), &ab))) in sum.iter_mut().zip(moments) {
        let var_a = aa - ma * ma;
        let var_b = bb - mb * mb;
        let cov = ab - ma * mb;
        let ssim = ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
            / ((ma * ma + mb * mb + c1) * (var_a + var_b + c2));
        *v = if first { ssim } else { *v + ssim };
    }
}

/// Checks that an output is a reconstruction `[1,3,h,w]` and returns (w, h).
pub fn reconstruction_size(shape: &[i64], len: usize) -> Result<(usize, usize), Error> {
    match *shape {
        [1, 3, h, w] if h > 0 && w > 0 && len == (3 * h * w) as usize => {
            Ok((w as usize, h as usize))
        }
        _ => Err(Error::inference(format!(
            "the model returned a reconstruction of shape {}; expected [1,3,H,W]",
            format_shape(shape)
        ))),
    }
}

/// What a blur reads: a plane, or the pixel-wise product of two (SSIM's second moments),
/// formed row by row so that the product plane is never stored.
#[derive(Clone, Copy)]
enum Source<'a> {
    Plane(&'a [f32]),
    Product(&'a [f32], &'a [f32]),
}

/// Separable Gaussian blur with mirrored borders (reflect-101). Both passes run over
/// contiguous rows and fold the symmetric taps (`k * (left + right)`), so the compiler
/// vectorises them; buffers are kept between calls.
#[derive(Debug, Clone, Default, PartialEq)]
struct Blur {
    /// The kernel's centre weight, then the weight at distance 1, 2, ... (it is symmetric).
    half_kernel: Vec<f32>,
    sigma: f32,
    /// One row with its mirrored margins, and the horizontal pass's output.
    padded: Vec<f32>,
    horizontal: Vec<f32>,
}

impl Blur {
    #[inline(always)]
    fn run(&mut self, src: Source, width: usize, height: usize, sigma: f32, out: &mut Vec<f32>) {
        if self.sigma != sigma || self.half_kernel.is_empty() {
            self.half_kernel = gaussian_half_kernel(sigma);
            self.sigma = sigma;
        }
        let kernel = &self.half_kernel;
        let (k0, r) = (kernel[0], kernel.len() - 1);
        let n = width * height;
        self.horizontal.resize(n, 0.0);
        self.padded.resize(width + 2 * r, 0.0);
        let padded = &mut self.padded;
        for (y, dst) in self.horizontal.chunks_exact_mut(width).enumerate() {
            let row = y * width..(y + 1) * width;
            let middle = &mut padded[r..r + width];
            match src {
                Source::Plane(p) => middle.copy_from_slice(&p[row]),
                Source::Product(a, b) => {
                    for ((m, x), y) in middle.iter_mut().zip(&a[row.clone()]).zip(&b[row]) {
                        *m = x * y;
                    }
                }
            }
            for i in 1..=r {
                padded[r - i] = padded[r + reflect(-(i as isize), width)];
                padded[r + width - 1 + i] = padded[r + reflect((width - 1 + i) as isize, width)];
            }
            for (d, p) in dst.iter_mut().zip(&padded[r..r + width]) {
                *d = k0 * p;
            }
            for (j, &k) in kernel.iter().enumerate().skip(1) {
                let left = &padded[r - j..r - j + width];
                let right = &padded[r + j..r + j + width];
                for ((d, a), b) in dst.iter_mut().zip(left).zip(right) {
                    *d += k * (a + b);
                }
            }
        }
        out.resize(n, 0.0);
        let horizontal = &self.horizontal;
        let row = |y: isize| {
            let y = reflect(y, height);
            &horizontal[y * width..(y + 1) * width]
        };
        for (y, dst) in out.chunks_exact_mut(width).enumerate() {
            for (d, p) in dst.iter_mut().zip(row(y as isize)) {
                *d = k0 * p;
            }
            for (j, &k) in kernel.iter().enumerate().skip(1) {
                let (up, down) = (row(y as isize - j as isize), row((y + j) as isize));
                for ((d, a), b) in dst.iter_mut().zip(up).zip(down) {
                    *d += k * (a + b);
                }
            }
        }
    }
}

/// Mirrors index `i` into 0..n without repeating the edge (reflect-101, numpy's 'reflect', as
/// models/evaluate.py pads).
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let mut i = i;
    while i < 0 || i >= n {
        i = if i < 0 { -i } else { 2 * (n - 1) - i };
    }
    i as usize
}

/// The normalised Gaussian of `sigma` over +-3 sigma: the centre weight, then distance 1, 2, ...
fn gaussian_half_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as usize;
    let k: Vec<f32> = (0..=radius)
        .map(|i| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum = k[0] + 2.0 * k[1..].iter().sum::<f32>();
    k.into_iter().map(|v| v / sum).collect()
}

/// How the error map is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatmapStyle {
    /// Normalised errors below this are left clear (the frame, or black for the heatmap alone).
    pub threshold: f32,
    /// The normalised error shown at the top of the colour map.
    pub max_error: f32,
    /// Opacity of the colour map over the frame (1: the heatmap alone).
    pub alpha: f32,
    /// Draw over black instead of the frame.
    pub alone: bool,
}

/// Steps of the colour map lookup table (finer than a byte, so no visible banding).
const HEAT_STEPS: usize = 1024;

/// The inferno colour map (perceptually uniform, dark to bright) as a lookup table.
fn inferno() -> &'static [[u8; 3]] {
    static INFERNO: LazyLock<Vec<[u8; 3]>> = LazyLock::new(|| {
        (0..HEAT_STEPS)
            .map(|i| {
                let c = colorous::INFERNO.eval_continuous(i as f64 / (HEAT_STEPS - 1) as f64);
                [c.r, c.g, c.b]
            })
            .collect()
    });
    &INFERNO
}

/// The colour of a normalised error `e`, `max_error` at the top of the colour map.
pub fn heat_colour(e: f32, max_error: f32) -> [u8; 3] {
    heat_colour_in(inferno(), e, max_error)
}

#[inline(always)]
fn heat_colour_in(lut: &[[u8; 3]], e: f32, max_error: f32) -> [u8; 3] {
    let t = if max_error > 0.0 {
        (e / max_error).clamp(0.0, 1.0)
    } else {
        1.0
    };
    // t >= 0, so + 0.5 then truncation rounds (f32::round is a libm call on baseline x86-64).
    lut[(t * (HEAT_STEPS - 1) as f32 + 0.5) as usize]
}

/// Draws `map` over `frame` as `style` says; `map` is best at the frame's size (else sampled
/// nearest).
pub fn draw_heatmap(frame: &mut ImageMut, map: &ErrorMap, style: &HeatmapStyle) {
    let (width, height) = (frame.width, frame.height);
    let row_len = frame.layout.row_bytes(width);
    let same_size = (map.width, map.height) == (width, height);
    let pen = HeatPen::new(inferno(), frame.layout.rgb_offsets, style);
    for y in 0..height {
        let row = &mut frame.data[y * frame.stride..y * frame.stride + row_len];
        let bpp = frame.layout.bytes_per_pixel;
        if same_size {
            let errors = map.values[y * width..(y + 1) * width].iter().copied();
            match bpp {
                3 => pen.row::<3>(row, errors),
                4 => pen.row::<4>(row, errors),
                n => unreachable!("no {n}-byte pixel layout"),
            }
        } else {
            let errors = (0..width).map(|x| map.at_frame(x, y, width, height));
            match bpp {
                3 => pen.row::<3>(row, errors),
                4 => pen.row::<4>(row, errors),
                n => unreachable!("no {n}-byte pixel layout"),
            }
        }
    }
}

/// What drawing one heatmap pixel needs, resolved once per frame.
struct HeatPen {
    lut: &'static [[u8; 3]],
    offsets: [usize; 3],
    threshold: f32,
    alone: bool,
    /// Lookup table steps per unit of normalised error (None: everything at the top).
    steps_per_error: Option<f32>,
    /// Opacity in 1/256ths (integer blending: within a level of the float formula).
    alpha_256: u32,
}

impl HeatPen {
    fn new(lut: &'static [[u8; 3]], offsets: [usize; 3], style: &HeatmapStyle) -> Self {
        Self {
            lut,
            offsets,
            threshold: style.threshold,
            alone: style.alone,
            steps_per_error: (style.max_error > 0.0)
                .then(|| (HEAT_STEPS - 1) as f32 / style.max_error),
            alpha_256: (style.alpha.clamp(0.0, 1.0) * 256.0 + 0.5) as u32,
        }
    }

    /// One row of `BPP`-byte pixels (the pixel size known at compile time, as in convert.rs).
    #[inline(always)]
    fn row<const BPP: usize>(&self, row: &mut [u8], errors: impl Iterator<Item = f32>) {
        let [o0, o1, o2] = self.offsets;
        let top = (HEAT_STEPS - 1) as f32;
        let a = self.alpha_256;
        let blend = |old: u8, new: u8| ((old as u32 * (256 - a) + new as u32 * a + 128) >> 8) as u8;
        for (px, e) in row.chunks_exact_mut(BPP).zip(errors) {
            if e < self.threshold {
                if self.alone {
                    (px[o0], px[o1], px[o2]) = (0, 0, 0);
                }
                continue;
            }
            // e >= 0 here, so + 0.5 then truncation rounds; the cast saturates.
            let step = self.steps_per_error.map_or(top, |k| (e * k + 0.5).min(top));
            let colour = self.lut[step as usize];
            if self.alone {
                (px[o0], px[o1], px[o2]) = (0, 0, 0);
            }
            px[o0] = blend(px[o0], colour[0]);
            px[o1] = blend(px[o1], colour[1]);
            px[o2] = blend(px[o2], colour[2]);
        }
    }
}

/// Writes the error as GRAY8 levels (0 at 0, 255 at `max_error` and above) into rows of `stride`.
pub fn write_error_gray8(
    map: &ErrorMap,
    out: &mut [u8],
    width: usize,
    height: usize,
    stride: usize,
    max_error: f32,
) {
    for y in 0..height {
        for (x, o) in out[y * stride..y * stride + width].iter_mut().enumerate() {
            let e = map.at_frame(x, y, width, height);
            *o = ((e / max_error.max(f32::MIN_POSITIVE)).clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::PixelLayout;

    fn planes(values: &[f32], w: usize, h: usize) -> Planes<'_> {
        Planes {
            values,
            plane_width: w,
            plane_height: h,
            to_unit: [(1.0, 0.0); 3],
        }
    }

    #[test]
    fn identical_images_have_no_error_and_ssim_one() {
        let img: Vec<f32> = (0..3 * 8 * 6).map(|i| (i % 17) as f32 / 17.0).collect();
        let mut map = ErrorMap::default();
        map.compute(&planes(&img, 8, 6), &planes(&img, 8, 6), 8, 6, 0.5, 0.1)
            .unwrap();
        assert!(
            map.values.iter().all(|v| v.abs() < 1e-4),
            "{:?}",
            map.values
        );
    }

    #[test]
    fn l2_error_is_normalised_by_the_scale() {
        // A flat difference of 0.1 on every channel: L2 = sqrt(3) * 0.1, smoothing keeps it.
        let a = vec![0.5f32; 3 * 4 * 4];
        let b = vec![0.6f32; 3 * 4 * 4];
        let mut map = ErrorMap::default();
        map.compute(&planes(&a, 4, 4), &planes(&b, 4, 4), 4, 4, 0.0, 0.05)
            .unwrap();
        for v in &map.values {
            assert!((v - 3f32.sqrt() * 0.1 / 0.05).abs() < 1e-4, "{v}");
        }
        assert!((map.score(99.0, &mut Vec::new()) - 3f32.sqrt() * 2.0).abs() < 1e-4);
    }

    #[test]
    fn a_local_difference_stays_local() {
        let a = vec![0.5f32; 3 * 16 * 16];
        let mut b = a.clone();
        for c in 0..3 {
            b[c * 256 + 8 * 16 + 8] = 1.0; // one pixel at (8, 8)
        }
        let mut map = ErrorMap::default();
        map.compute(&planes(&a, 16, 16), &planes(&b, 16, 16), 16, 16, 0.5, 0.1)
            .unwrap();
        let at = |x: usize, y: usize| map.values[y * 16 + x];
        assert!(at(8, 8) > 1.0);
        assert!(at(0, 0) < 0.01 && at(15, 15) < 0.01);
    }

    #[test]
    fn heatmap_leaves_pixels_below_the_threshold_clear() {
        let map = ErrorMap {
            width: 2,
            height: 1,
            values: vec![0.5, 3.0],
            ..ErrorMap::default()
        };
        let mut data = vec![10u8, 20, 30, 10, 20, 30];
        let mut frame = ImageMut {
            data: &mut data,
            width: 2,
            height: 1,
            stride: 6,
            layout: PixelLayout::RGB,
        };
        let style = HeatmapStyle {
            threshold: 1.0,
            max_error: 3.0,
            alpha: 1.0,
            alone: false,
        };
        draw_heatmap(&mut frame, &map, &style);
        assert_eq!(&data[..3], [10, 20, 30]);
        assert_eq!(&data[3..], heat_colour(3.0, 3.0));
        let mut gray = [0u8; 2];
        write_error_gray8(&map, &mut gray, 2, 1, 2, 3.0);
        assert_eq!(gray, [43, 255]);
    }
}
