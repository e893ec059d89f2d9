// SPDX-License-Identifier: MIT OR Apache-2.0
//! Reconstruction error of an anomaly autoencoder: per pixel, (1 - w) x L2 over channels +
//! w x (1 - SSIM), the definition models/ calibrates `error_scale` with; smoothed; divided by
//! `error_scale`, so 1.0 is the error level of normal data. Plus the frame score and drawing.

use std::sync::LazyLock;

use super::convert::ImageMut;
use super::model::format_shape;
use super::resize::{RgbResizer, Size};

/// SSIM window: Gaussian, sigma 1.5, 11 taps (Wang et al. 2004).
const SSIM_SIGMA: f32 = 1.5;
/// Smoothing of the error map before it is shown and scored.
const SMOOTH_SIGMA: f32 = 1.0;

/// A per-pixel error map in units of `error_scale`, row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorMap {
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
    /// Planes reused from frame to frame so that computing allocates nothing once sized.
    scratch: Scratch,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Scratch {
    input: [Vec<f32>; 3],
    reconstruction: [Vec<f32>; 3],
    ssim_sum: Vec<f32>,
    product: Vec<f32>,
    blurred: [Vec<f32>; 5],
    blur: Blur,
}

/// A planar 3-channel image at model resolution, with its plane size and, per channel, the
/// `scale` and `offset` that bring its values into 0..1 (`v * scale + offset`).
pub struct Planes<'a> {
    pub values: &'a [f32],
    pub plane_width: usize,
    pub plane_height: usize,
    pub to_unit: [(f32, f32); 3],
}

impl Planes<'_> {
    /// Copies the top-left `width` x `height` of channel `c`, in 0..1, into `out`.
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
    ) -> Result<(), String> {
        for (name, p) in [("input", input), ("reconstruction", reconstruction)] {
            if p.values.len() < 3 * p.plane_width * p.plane_height
                || width > p.plane_width
                || height > p.plane_height
                || width == 0
                || height == 0
            {
                return Err(format!(
                    "the {name} does not cover a {width}x{height} region"
                ));
            }
        }
        let n = width * height;
        let s = &mut self.scratch;
        for c in 0..3 {
            input.crop_into(c, width, height, &mut s.input[c]);
            reconstruction.crop_into(c, width, height, &mut s.reconstruction[c]);
        }
        // L2 over channels.
        let error = &mut self.values;
        error.clear();
        error.resize(n, 0.0);
        for c in 0..3 {
            for ((e, a), b) in error.iter_mut().zip(&s.input[c]).zip(&s.reconstruction[c]) {
                *e += (a - b) * (a - b);
            }
        }
        for e in error.iter_mut() {
            *e = (1.0 - ssim_weight) * e.sqrt();
        }
        if ssim_weight > 0.0 {
            s.ssim_sum.clear();
            s.ssim_sum.resize(n, 0.0);
            for c in 0..3 {
                add_ssim(s, c, width, height);
            }
            for (e, sum) in error.iter_mut().zip(&s.ssim_sum) {
                *e += ssim_weight * (1.0 - sum / 3.0).max(0.0);
            }
        }
        let [smoothed, ..] = &mut s.blurred;
        s.blur.run(error, width, height, SMOOTH_SIGMA, smoothed);
        let scale = error_scale.max(f32::MIN_POSITIVE);
        for (e, v) in error.iter_mut().zip(smoothed.iter()) {
            *e = if v.is_finite() { v / scale } else { 0.0 };
        }
        self.width = width;
        self.height = height;
        Ok(())
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
        resizer: &mut RgbResizer,
    ) -> Result<(), String> {
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

/// Adds channel `c`'s per-pixel SSIM to `s.ssim_sum`.
fn add_ssim(s: &mut Scratch, c: usize, width: usize, height: usize) {
    let (a, b) = (&s.input[c], &s.reconstruction[c]);
    let [mu_a, mu_b, aa, bb, ab] = &mut s.blurred;
    s.blur.run(a, width, height, SSIM_SIGMA, mu_a);
    s.blur.run(b, width, height, SSIM_SIGMA, mu_b);
    for (target, (x, y)) in [(&mut *aa, (a, a)), (&mut *bb, (b, b)), (&mut *ab, (a, b))] {
        s.product.clear();
        s.product.extend(x.iter().zip(y.iter()).map(|(p, q)| p * q));
        s.blur.run(&s.product, width, height, SSIM_SIGMA, target);
    }
    let (c1, c2) = (0.01f32.powi(2), 0.03f32.powi(2));
    for i in 0..a.len() {
        let (ma, mb) = (mu_a[i], mu_b[i]);
        let var_a = aa[i] - ma * ma;
        let var_b = bb[i] - mb * mb;
        let cov = ab[i] - ma * mb;
        s.ssim_sum[i] += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
            / ((ma * ma + mb * mb + c1) * (var_a + var_b + c2));
    }
}

/// Checks that an output is a reconstruction [1,3,h,w] and returns (w, h).
pub fn reconstruction_size(shape: &[i64], len: usize) -> Result<(usize, usize), String> {
    match *shape {
        [1, 3, h, w] if h > 0 && w > 0 && len == (3 * h * w) as usize => {
            Ok((w as usize, h as usize))
        }
        _ => Err(format!(
            "the model returned a reconstruction of shape {}; expected [1,3,H,W]",
            format_shape(shape)
        )),
    }
}

/// Separable Gaussian blur with mirrored borders (reflect-101), written so that both passes
/// run over contiguous rows (vectorised by the compiler); buffers kept between calls.
#[derive(Debug, Clone, Default, PartialEq)]
struct Blur {
    kernel: Vec<f32>,
    sigma: f32,
    /// One row with its mirrored margins, and the horizontal pass's output.
    padded: Vec<f32>,
    horizontal: Vec<f32>,
}

impl Blur {
    fn run(&mut self, src: &[f32], width: usize, height: usize, sigma: f32, out: &mut Vec<f32>) {
        if self.sigma != sigma || self.kernel.is_empty() {
            self.kernel = gaussian_kernel(sigma);
            self.sigma = sigma;
        }
        let r = self.kernel.len() / 2;
        let kernel = &self.kernel;
        self.horizontal.clear();
        self.horizontal.resize(src.len(), 0.0);
        self.padded.resize(width + 2 * r, 0.0);
        for (row, dst) in src
            .chunks_exact(width)
            .zip(self.horizontal.chunks_exact_mut(width))
        {
            for (i, p) in self.padded.iter_mut().enumerate() {
                *p = row[reflect(i as isize - r as isize, width)];
            }
            for (k, &w) in kernel.iter().enumerate() {
                for (d, &p) in dst.iter_mut().zip(&self.padded[k..k + width]) {
                    *d += w * p;
                }
            }
        }
        out.clear();
        out.resize(src.len(), 0.0);
        for (y, dst) in out.chunks_exact_mut(width).enumerate() {
            for (k, &w) in kernel.iter().enumerate() {
                let sy = reflect(y as isize + k as isize - r as isize, height);
                let row = &self.horizontal[sy * width..(sy + 1) * width];
                for (d, &p) in dst.iter_mut().zip(row) {
                    *d += w * p;
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

fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let k: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
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

/// The colour of a normalised error `e` (inferno: perceptually uniform, dark to bright).
pub fn heat_colour(e: f32, max_error: f32) -> [u8; 3] {
    static INFERNO: LazyLock<Vec<[u8; 3]>> = LazyLock::new(|| {
        (0..HEAT_STEPS)
            .map(|i| {
                let c = colorous::INFERNO.eval_continuous(i as f64 / (HEAT_STEPS - 1) as f64);
                [c.r, c.g, c.b]
            })
            .collect()
    });
    let t = if max_error > 0.0 {
        (e / max_error).clamp(0.0, 1.0)
    } else {
        1.0
    };
    INFERNO[(t * (HEAT_STEPS - 1) as f32).round() as usize]
}

/// Draws `map` over `frame` as `style` says; `map` is best at the frame's size (else sampled
/// nearest).
pub fn draw_heatmap(frame: &mut ImageMut, map: &ErrorMap, style: &HeatmapStyle) {
    let (width, height) = (frame.width, frame.height);
    let offsets = frame.layout.rgb_offsets;
    let alpha = style.alpha.clamp(0.0, 1.0);
    let row_len = frame.layout.row_bytes(width);
    let same_size = (map.width, map.height) == (width, height);
    let draw = |px: &mut [u8], e: f32| {
        if e < style.threshold {
            if style.alone {
                offsets.iter().for_each(|&o| px[o] = 0);
            }
            return;
        }
        let colour = heat_colour(e, style.max_error);
        for (k, &o) in offsets.iter().enumerate() {
            let old = if style.alone { 0.0 } else { px[o] as f32 };
            px[o] = (old + (colour[k] as f32 - old) * alpha + 0.5) as u8;
        }
    };
    for y in 0..height {
        let row = &mut frame.data[y * frame.stride..y * frame.stride + row_len];
        let pixels = row.chunks_exact_mut(frame.layout.bytes_per_pixel);
        if same_size {
            for (px, &e) in pixels.zip(&map.values[y * width..(y + 1) * width]) {
                draw(px, e);
            }
        } else {
            for (x, px) in pixels.enumerate() {
                draw(px, map.at_frame(x, y, width, height));
            }
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
    use crate::core::PixelLayout;

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
