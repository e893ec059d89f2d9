// SPDX-License-Identifier: MIT OR Apache-2.0
//! Reconstruction error of an anomaly autoencoder: per pixel, (1 - w) x L2 over channels +
//! w x (1 - SSIM), the definition models/ calibrates `error_scale` with; smoothed; divided by
//! `error_scale`, so 1.0 is the error level of normal data. Plus the frame score and drawing.

use super::convert::ImageMut;
use super::model::format_shape;

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
}

/// Planar 3-channel image in 0..1 at model resolution, with its plane width.
pub struct Planes<'a> {
    pub values: &'a [f32],
    pub plane_width: usize,
    pub plane_height: usize,
}

impl ErrorMap {
    /// Computes the error of the top-left `width` x `height` between `input` and
    /// `reconstruction` (both 0..1), normalised by `error_scale`.
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
            {
                return Err(format!(
                    "the {name} does not cover a {width}x{height} region"
                ));
            }
        }
        let n = width * height;
        let crop = |p: &Planes, c: usize| -> Vec<f32> {
            let plane = &p.values[c * p.plane_width * p.plane_height..];
            (0..height)
                .flat_map(|y| {
                    plane[y * p.plane_width..y * p.plane_width + width]
                        .iter()
                        .copied()
                })
                .collect()
        };
        let a: Vec<Vec<f32>> = (0..3).map(|c| crop(input, c)).collect();
        let b: Vec<Vec<f32>> = (0..3).map(|c| crop(reconstruction, c)).collect();
        let mut error = vec![0.0f32; n];
        for i in 0..n {
            let d2: f32 = (0..3).map(|c| (a[c][i] - b[c][i]).powi(2)).sum();
            error[i] = (1.0 - ssim_weight) * d2.sqrt();
        }
        if ssim_weight > 0.0 {
            let mut ssim_mean = vec![0.0f32; n];
            for c in 0..3 {
                let s = ssim(&a[c], &b[c], width, height);
                for (m, v) in ssim_mean.iter_mut().zip(s) {
                    *m += v / 3.0;
                }
            }
            for (e, s) in error.iter_mut().zip(ssim_mean) {
                *e += ssim_weight * (1.0 - s).max(0.0);
            }
        }
        let smoothed = gaussian_blur(&error, width, height, SMOOTH_SIGMA);
        let scale = error_scale.max(f32::MIN_POSITIVE);
        self.width = width;
        self.height = height;
        self.values = smoothed
            .into_iter()
            .map(|e| if e.is_finite() { e / scale } else { 0.0 })
            .collect();
        Ok(())
    }

    /// The frame's anomaly score: the `percentile` (0..100) of the normalised error.
    pub fn score(&self, percentile: f32) -> f32 {
        if self.values.is_empty() {
            return 0.0;
        }
        let mut sorted = self.values.clone();
        let k =
            ((percentile.clamp(0.0, 100.0) / 100.0) * (sorted.len() - 1) as f32).round() as usize;
        let (_, v, _) = sorted.select_nth_unstable_by(k, f32::total_cmp);
        *v
    }

    /// The value for frame pixel (x, y) of a `width` x `height` frame (nearest sample).
    fn at_frame(&self, x: usize, y: usize, width: usize, height: usize) -> f32 {
        let sx = ((2 * x + 1) * self.width / (2 * width)).min(self.width - 1);
        let sy = ((2 * y + 1) * self.height / (2 * height)).min(self.height - 1);
        self.values[sy * self.width + sx]
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

fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let k: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.into_iter().map(|v| v / sum).collect()
}

/// Separable Gaussian blur with reflected borders.
fn gaussian_blur(src: &[f32], width: usize, height: usize, sigma: f32) -> Vec<f32> {
    let kernel = gaussian_kernel(sigma);
    let r = (kernel.len() / 2) as isize;
    let reflect = |i: isize, n: usize| -> usize {
        let n = n as isize;
        let mut i = i;
        if n == 1 {
            return 0;
        }
        while i < 0 || i >= n {
            i = if i < 0 { -i } else { 2 * (n - 1) - i };
        }
        i as usize
    };
    let mut tmp = vec![0.0f32; src.len()];
    for y in 0..height {
        for x in 0..width {
            tmp[y * width + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * src[y * width + reflect(x as isize + k as isize - r, width)])
                .sum();
        }
    }
    let mut out = vec![0.0f32; src.len()];
    for y in 0..height {
        for x in 0..width {
            out[y * width + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * tmp[reflect(y as isize + k as isize - r, height) * width + x])
                .sum();
        }
    }
    out
}

/// Per-pixel SSIM of two single-channel images in 0..1.
fn ssim(a: &[f32], b: &[f32], width: usize, height: usize) -> Vec<f32> {
    let blur = |v: &[f32]| gaussian_blur(v, width, height, SSIM_SIGMA);
    let product =
        |x: &[f32], y: &[f32]| -> Vec<f32> { x.iter().zip(y).map(|(p, q)| p * q).collect() };
    let (mu_a, mu_b) = (blur(a), blur(b));
    let (aa, bb, ab) = (
        blur(&product(a, a)),
        blur(&product(b, b)),
        blur(&product(a, b)),
    );
    let (c1, c2) = (0.01f32.powi(2), 0.03f32.powi(2));
    (0..a.len())
        .map(|i| {
            let (ma, mb) = (mu_a[i], mu_b[i]);
            let var_a = aa[i] - ma * ma;
            let var_b = bb[i] - mb * mb;
            let cov = ab[i] - ma * mb;
            ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (var_a + var_b + c2))
        })
        .collect()
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

/// The colour of a normalised error `e` (inferno: perceptually uniform, dark to bright).
pub fn heat_colour(e: f32, max_error: f32) -> [u8; 3] {
    let t = if max_error > 0.0 {
        (e / max_error).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let c = colorous::INFERNO.eval_continuous(t as f64);
    [c.r, c.g, c.b]
}

/// Draws `map` over `frame` as `style` says.
pub fn draw_heatmap(frame: &mut ImageMut, map: &ErrorMap, style: &HeatmapStyle) {
    let (width, height) = (frame.width, frame.height);
    let bpp = frame.layout.bytes_per_pixel;
    let offsets = frame.layout.rgb_offsets;
    let alpha = style.alpha.clamp(0.0, 1.0);
    let row_len = frame.layout.row_bytes(width);
    for y in 0..height {
        let row = &mut frame.data[y * frame.stride..y * frame.stride + row_len];
        for (x, px) in row.chunks_exact_mut(bpp).enumerate() {
            let e = map.at_frame(x, y, width, height);
            if e < style.threshold {
                if style.alone {
                    offsets.iter().for_each(|&o| px[o] = 0);
                }
                continue;
            }
            let colour = heat_colour(e, style.max_error);
            for (k, &o) in offsets.iter().enumerate() {
                let old = if style.alone { 0.0 } else { px[o] as f32 };
                px[o] = (old + (colour[k] as f32 - old) * alpha + 0.5) as u8;
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
        assert!((map.score(99.0) - 3f32.sqrt() * 2.0).abs() < 1e-4);
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
