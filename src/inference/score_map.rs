// SPDX-License-Identifier: MIT OR Apache-2.0
//! Class scores at model resolution, and their bilinear upsampling to the frame: deciding the
//! class of each frame pixel from scores interpolated to it gives smooth mask edges, where
//! deciding at model resolution and scaling the class ids by nearest neighbour gives a
//! stair-stepped mask (a 256x256 model at 640x360).
//!
//! The interpolation is the common one (OpenCV's `INTER_LINEAR`, PyTorch's
//! `interpolate(align_corners=False)`, ONNX `Resize` linear with `half_pixel`): pixel centres
//! are aligned, source coordinates are clamped to the edges.

use super::error::Error;
use super::model::format_shape;

/// The top-left region of each of the K score planes of a model output `[1,K,h,w]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoreMap {
    /// K, the number of planes (1 for a binary model).
    pub classes: usize,
    /// Columns of each plane.
    pub width: usize,
    /// Rows of each plane.
    pub height: usize,
    /// `classes * height * width` values, plane after plane, each row-major.
    pub values: Vec<f32>,
}

impl ScoreMap {
    /// Keeps the top-left `width` x `height` of each plane of `values` (shape `[1,K,h,w]`).
    pub fn keep(
        &mut self,
        shape: &[i64],
        values: &[f32],
        width: usize,
        height: usize,
    ) -> Result<(), Error> {
        let (k, out_h, out_w) = class_scores_covering(shape, values, width, height)?;
        self.classes = k;
        self.width = width;
        self.height = height;
        self.values.clear();
        for plane in values.chunks_exact(out_w * out_h) {
            for row in plane.chunks_exact(out_w).take(height) {
                self.values.extend(row[..width].iter().map(|v| finite(*v)));
            }
        }
        Ok(())
    }
}

/// The class count K and plane size (h, w) of class scores `values` of `shape` `[1,K,h,w]`,
/// checked to be 1 <= K <= 256 and to cover a `width` x `height` region.
pub fn class_scores_covering(
    shape: &[i64],
    values: &[f32],
    width: usize,
    height: usize,
) -> Result<(usize, usize, usize), Error> {
    let (k, out_h, out_w) = match *shape {
        [1, k, h, w] if (1..=256).contains(&k) && h > 0 && w > 0 => {
            (k as usize, h as usize, w as usize)
        }
        _ => {
            return Err(Error::inference(format!(
                "the model returned class scores of shape {}; expected [1,K,H,W] with 1 <= K <= 256",
                format_shape(shape)
            )));
        }
    };
    if values.len() != k * out_h * out_w || width > out_w || height > out_h || width == 0 {
        return Err(Error::inference(format!(
            "class scores {} do not cover a {width}x{height} region",
            format_shape(shape)
        )));
    }
    Ok((k, out_h, out_w))
}

/// The largest score magnitude kept: infinities become this, NaN its negative, so that
/// interpolation stays finite (inf - inf would be NaN) while +inf still wins every decision
/// and NaN loses them all, as when deciding at model resolution.
const SCORE_LIMIT: f32 = 1e30;

fn finite(v: f32) -> f32 {
    if v.is_nan() {
        -SCORE_LIMIT
    } else {
        v.clamp(-SCORE_LIMIT, SCORE_LIMIT)
    }
}

/// One output position's two source positions and the weight of the second.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tap {
    first: usize,
    second: usize,
    weight: f32,
}

/// The taps of each of `dst` positions over `src` positions (half-pixel centres, clamped).
fn taps(src: usize, dst: usize, out: &mut Vec<Tap>) {
    let scale = src as f32 / dst as f32;
    out.clear();
    out.extend((0..dst).map(|d| {
        let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
        let first = (s as usize).min(src - 1);
        let second = (first + 1).min(src - 1);
        Tap {
            first,
            second,
            weight: s - first as f32,
        }
    }));
}

/// Upsamples score maps row by row, keeping its scratch between frames (nothing is allocated
/// once the sizes settle).
#[derive(Debug, Default)]
pub struct Upsampler {
    columns: Vec<Tap>,
    rows: Vec<Tap>,
    /// The current output row of every class, class after class.
    row: Vec<f32>,
    /// One class's source row, interpolated between the two source rows of an output row.
    between: Vec<f32>,
    /// The sizes the taps were made for: (source w, h, output w, h).
    sizes: (usize, usize, usize, usize),
}

impl Upsampler {
    /// Calls `use_row(y, scores)` for each output row `y` of a `width` x `height` upsampling of
    /// `map`, where `scores` holds the row of each class, class after class (`K * width`).
    pub fn rows(
        &mut self,
        map: &ScoreMap,
        width: usize,
        height: usize,
        mut use_row: impl FnMut(usize, &[f32]),
    ) {
        if map.width == 0 || map.height == 0 || width == 0 {
            return;
        }
        let sizes = (map.width, map.height, width, height);
        if self.sizes != sizes {
            taps(map.width, width, &mut self.columns);
            taps(map.height, height, &mut self.rows);
            self.sizes = sizes;
        }
        self.row.resize(map.classes * width, 0.0);
        self.between.resize(map.width, 0.0);
        let plane = map.width * map.height;
        for (y, tap) in self.rows.iter().enumerate() {
            for (c, out) in self.row.chunks_exact_mut(width).enumerate() {
                let values = &map.values[c * plane..(c + 1) * plane];
                let above = &values[tap.first * map.width..(tap.first + 1) * map.width];
                let below = &values[tap.second * map.width..(tap.second + 1) * map.width];
                // Vertically first, at the source width (fewer columns), then across.
                for ((v, a), b) in self.between.iter_mut().zip(above).zip(below) {
                    *v = a + (b - a) * tap.weight;
                }
                let between = &self.between;
                for (o, t) in out.iter_mut().zip(&self.columns) {
                    let (left, right) = (between[t.first], between[t.second]);
                    *o = left + (right - left) * t.weight;
                }
            }
            use_row(y, &self.row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_align_pixel_centres_and_clamp() {
        let mut t = Vec::new();
        taps(2, 4, &mut t);
        // Output centres 0.5, 1.5, 2.5, 3.5 map to -0.25 (clamped to 0), 0.25, 0.75, 1.25.
        let got: Vec<(usize, usize, f32)> =
            t.iter().map(|t| (t.first, t.second, t.weight)).collect();
        assert_eq!(got, [(0, 1, 0.0), (0, 1, 0.25), (0, 1, 0.75), (1, 1, 0.25)]);
        taps(3, 3, &mut t);
        assert!(
            t.iter()
                .enumerate()
                .all(|(i, t)| t.first == i && t.weight == 0.0)
        );
    }

    #[test]
    fn upsampling_interpolates_each_class() {
        let mut map = ScoreMap::default();
        // K=2, 2x1: class 0 goes 0 -> 1 across, class 1 is flat 0.5.
        map.keep(&[1, 2, 1, 2], &[0.0, 1.0, 0.5, 0.5], 2, 1)
            .unwrap();
        let mut rows = Vec::new();
        Upsampler::default().rows(&map, 4, 2, |y, r| rows.push((y, r.to_vec())));
        let expected = vec![0.0, 0.25, 0.75, 1.0, 0.5, 0.5, 0.5, 0.5];
        assert_eq!(rows, [(0, expected.clone()), (1, expected)]);
    }

    #[test]
    fn keep_crops_and_refuses_bad_shapes() {
        let mut map = ScoreMap::default();
        map.keep(&[1, 1, 2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 1)
            .unwrap();
        assert_eq!(map.values, [1.0, 2.0]);
        let e = map.keep(&[2, 1, 2, 3], &[0.0; 12], 2, 1).unwrap_err();
        assert!(e.message().contains("[2,1,2,3]"), "{e}");
    }
}
