// SPDX-License-Identifier: MIT OR Apache-2.0
//! Pixel-wise class decisions from a segmentation output, and drawing them: the class map
//! (argmax over K scores, or a threshold for a single foreground channel), per-class pixel
//! fractions, the palette, and the overlay / mask rendering.

use super::convert::ImageMut;
use super::error::Error;
use super::score_map::{ScoreMap, Upsampler, class_scores_covering};

/// How a single-channel (binary foreground) output is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryScores {
    /// Values are probabilities (after a sigmoid).
    Probability,
    /// Values are logits (before a sigmoid).
    Logit,
}

impl BinaryScores {
    /// A probability `threshold` in the model's own units: a logit threshold is
    /// logit(threshold).
    pub fn cut(self, threshold: f32) -> f32 {
        match self {
            BinaryScores::Probability => threshold,
            BinaryScores::Logit => (threshold / (1.0 - threshold)).ln(),
        }
    }
}

/// A class id per pixel, row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassMap {
    /// Columns of the map.
    pub width: usize,
    /// Rows of the map.
    pub height: usize,
    /// `width * height` class ids, row-major; each below the model's class count K (1 <= K <=
    /// 256; a binary model gives 0 for background and 1 for foreground).
    pub ids: Vec<u8>,
    /// Scratch: the best score so far in the current row and its class (kept to avoid a
    /// per-frame allocation).
    best: Vec<f32>,
    best_class: Vec<u32>,
}

impl ClassMap {
    /// Decides the class of each pixel of the top-left `width` x `height` of an output
    /// `[1,K,h,w]`: the index of the highest score (the first on ties), or for K = 1,
    /// foreground (1) where the probability reaches `threshold`.
    pub fn decide(
        &mut self,
        shape: &[i64],
        values: &[f32],
        width: usize,
        height: usize,
        threshold: f32,
        binary: BinaryScores,
    ) -> Result<(), Error> {
        let (k, out_h, out_w) = class_scores_covering(shape, values, width, height)?;
        self.width = width;
        self.height = height;
        self.ids.resize(width * height, 0);
        let plane = out_w * out_h;
        if k == 1 {
            let cut = binary.cut(threshold);
            for (y, row) in self.ids.chunks_exact_mut(width).enumerate() {
                let scores = &values[y * out_w..y * out_w + width];
                for (id, s) in row.iter_mut().zip(scores) {
                    *id = u8::from(*s >= cut);
                }
            }
            return Ok(());
        }
        self.best.resize(width, f32::NEG_INFINITY);
        self.best_class.resize(width, 0);
        let scores = Scores {
            values,
            classes: k,
            plane_width: out_w,
            plane,
        };
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { self.argmax_avx2(&scores) };
            return Ok(());
        }
        self.argmax(&scores);
        Ok(())
    }

    /// Decides the class of each pixel of a `width` x `height` frame from `scores` upsampled
    /// bilinearly to it (smooth mask edges): the highest score (the first on ties; NaN never
    /// wins), or for K = 1, foreground where the value reaches `threshold` in the model's
    /// units.
    pub fn decide_upsampled(
        &mut self,
        scores: &ScoreMap,
        upsampler: &mut Upsampler,
        (width, height): (usize, usize),
        threshold: f32,
        binary: BinaryScores,
    ) {
        self.width = width;
        self.height = height;
        self.ids.resize(width * height, 0);
        self.best.resize(width, f32::NEG_INFINITY);
        self.best_class.resize(width, 0);
        let cut = binary.cut(threshold);
        let Self {
            ids,
            best,
            best_class,
            ..
        } = self;
        upsampler.rows(scores, width, height, |y, row| {
            let out = &mut ids[y * width..(y + 1) * width];
            if scores.classes == 1 {
                for (id, s) in out.iter_mut().zip(row) {
                    *id = u8::from(*s >= cut);
                }
                return;
            }
            best.fill(f32::NEG_INFINITY);
            best_class.fill(0);
            for (c, class_scores) in row.chunks_exact(width).enumerate() {
                for ((id, b), s) in best_class.iter_mut().zip(best.iter_mut()).zip(class_scores) {
                    let better = *s > *b;
                    *b = if better { *s } else { *b };
                    *id = if better { c as u32 } else { *id };
                }
            }
            for (id, class) in out.iter_mut().zip(best_class.iter()) {
                *id = *class as u8;
            }
        });
    }

    /// [`ClassMap::argmax`] compiled for AVX2: 8 lanes and blends, where the baseline x86-64
    /// target has 4 lanes and no blend instruction (there the selects become branches).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn argmax_avx2(&mut self, scores: &Scores) {
        self.argmax(scores)
    }

    /// The class of the highest score of each pixel of the region `decide` has checked.
    #[inline(always)]
    fn argmax(&mut self, scores: &Scores) {
        let width = self.width;
        let (best, best_class) = (&mut self.best, &mut self.best_class);
        for (y, row) in self.ids.chunks_exact_mut(width).enumerate() {
            best.fill(f32::NEG_INFINITY);
            best_class.fill(0);
            for c in 0..scores.classes {
                let start = c * scores.plane + y * scores.plane_width;
                let class_scores = &scores.values[start..start + width];
                for ((id, b), s) in best_class.iter_mut().zip(best.iter_mut()).zip(class_scores) {
                    // `>` keeps the first class on ties; NaN never wins. Selects on 32-bit
                    // lanes, no branches: the loop vectorises.
                    let better = *s > *b;
                    *b = if better { *s } else { *b };
                    *id = if better { c as u32 } else { *id };
                }
            }
            for (id, class) in row.iter_mut().zip(best_class.iter()) {
                *id = *class as u8;
            }
        }
    }

    /// This map scaled to `width` x `height` by nearest neighbour (class ids must not blend).
    /// (`columns` is scratch, kept by the caller so that nothing is allocated per frame.)
    pub fn scale_nearest_into(
        &self,
        width: usize,
        height: usize,
        out: &mut Vec<u8>,
        columns: &mut Vec<usize>,
    ) {
        out.resize(width * height, 0);
        if self.width == width && self.height == height {
            out.copy_from_slice(&self.ids);
            return;
        }
        // Source column for each destination column, sampled at pixel centres.
        columns.clear();
        columns.extend(
            (0..width).map(|x| ((2 * x + 1) * self.width / (2 * width)).min(self.width - 1)),
        );
        for (y, row) in out.chunks_exact_mut(width).enumerate() {
            let sy = ((2 * y + 1) * self.height / (2 * height)).min(self.height - 1);
            let src = &self.ids[sy * self.width..(sy + 1) * self.width];
            for (o, &sx) in row.iter_mut().zip(columns.iter()) {
                *o = src[sx];
            }
        }
    }
}

/// Class scores `[1,K,h,w]` as `decide` reads them.
struct Scores<'a> {
    values: &'a [f32],
    classes: usize,
    plane_width: usize,
    plane: usize,
}

/// The fraction of pixels of each class 0..classes.
pub fn class_fractions(ids: &[u8], classes: usize, fractions: &mut Vec<f64>) {
    let mut counts = [0u64; 256];
    for &id in ids {
        counts[id as usize] += 1;
    }
    let total = ids.len().max(1) as f64;
    fractions.clear();
    fractions.extend(
        counts[..classes.clamp(1, 256)]
            .iter()
            .map(|&c| c as f64 / total),
    );
}

/// One colour per class.
#[derive(Debug, Clone, PartialEq)]
pub struct Palette(pub Vec<[u8; 3]>);

impl Palette {
    /// Parses "r,g,b;r,g,b;..." (each 0..255); the error names `key`.
    pub fn parse(key: &str, value: &str) -> Result<Self, Error> {
        let mut colours = Vec::new();
        // Entries are counted as written (from 1), empty ones included, so that the number
        // points at the text.
        for (i, entry) in value.split(';').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let parts: Vec<&str> = entry.split(',').map(str::trim).collect();
            let parsed: Option<Vec<u8>> = parts.iter().map(|p| p.parse::<u8>().ok()).collect();
            match parsed.as_deref() {
                Some([r, g, b]) => colours.push([*r, *g, *b]),
                _ => {
                    return Err(Error::settings(format!(
                        "'{key}' entry {} of '{value}' is '{entry}'; expected 'R,G,B' with \
                         each 0..255",
                        i + 1
                    )));
                }
            }
        }
        if colours.is_empty() {
            return Err(Error::settings(format!("'{key}' has no colours")));
        }
        Ok(Self(colours))
    }

    /// A palette whose colours stay distinct for up to 256 classes: class 0 black, then hues
    /// a golden angle apart, cycling through three lightness levels.
    pub fn distinct(classes: usize) -> Self {
        let mut colours = vec![[0, 0, 0]];
        for i in 1..classes.max(1) {
            let hue = (i as f32 * 137.507_77) % 360.0;
            let (saturation, value) = [(0.85, 0.95), (0.65, 0.75), (0.9, 0.6)][i % 3];
            colours.push(hsv_to_rgb(hue, saturation, value));
        }
        Self(colours)
    }

    /// The RGB colour of `class` (white for a class past the palette's end).
    pub fn colour(&self, class: u8) -> [u8; 3] {
        self.0
            .get(class as usize)
            .copied()
            .unwrap_or([255, 255, 255])
    }
}

fn hsv_to_rgb(hue: f32, s: f32, v: f32) -> [u8; 3] {
    let c = v * s;
    let h = hue / 60.0;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r, g, b].map(|u| ((u + m) * 255.0).round() as u8)
}

/// Draws the classes of `ids` (frame-sized) into `frame`: each pixel's class colour blended over
/// it with `alpha` (1 draws the mask alone); class 0 is left untouched when `skip_background`.
pub fn draw_classes(
    frame: &mut ImageMut,
    ids: &[u8],
    palette: &Palette,
    alpha: f32,
    skip_background: bool,
) {
    // Integer blending, alpha in 1/256ths: old * (256 - a) + colour * a + 128, both weights
    // looked up per class. A skipped background keeps its original (weight 256, no colour):
    // no branch per pixel.
    let alpha = (alpha.clamp(0.0, 1.0) * 256.0 + 0.5) as u16;
    let mut pen = ClassPen {
        colour: [[0; 3]; 256],
        keep: [256 - alpha; 256],
        offsets: frame.layout.rgb_offsets,
    };
    for (class, c) in pen.colour.iter_mut().enumerate() {
        *c = palette.colour(class as u8).map(|c| c as u16 * alpha + 128);
    }
    if skip_background {
        pen.colour[0] = [128; 3];
        pen.keep[0] = 256;
    }
    let row_len = frame.layout.row_bytes(frame.width);
    for y in 0..frame.height {
        let row = &mut frame.data[y * frame.stride..y * frame.stride + row_len];
        let classes = &ids[y * frame.width..(y + 1) * frame.width];
        match frame.layout.bytes_per_pixel {
            3 => pen.row::<3>(row, classes),
            4 => pen.row::<4>(row, classes),
            n => unreachable!("no {n}-byte pixel layout"),
        }
    }
}

/// Per-class weights for drawing classes over a frame.
struct ClassPen {
    /// Each colour component times alpha, plus 128 for rounding.
    colour: [[u16; 3]; 256],
    /// The weight of the original level (256 - alpha).
    keep: [u16; 256],
    offsets: [usize; 3],
}

impl ClassPen {
    #[inline(always)]
    fn row<const BPP: usize>(&self, row: &mut [u8], classes: &[u8]) {
        for (px, &class) in row.chunks_exact_mut(BPP).zip(classes) {
            let (colour, keep) = (&self.colour[class as usize], self.keep[class as usize]);
            for (k, &o) in self.offsets.iter().enumerate() {
                px[o] = ((px[o] as u16 * keep + colour[k]) >> 8) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_palette_entry_is_counted_as_written() {
        let e = Palette::parse("class_colors", ";;;;,,,").unwrap_err();
        assert_eq!(
            e,
            "'class_colors' entry 5 of ';;;;,,,' is ',,,'; expected 'R,G,B' with each 0..255"
        );
    }
    use crate::inference::PixelLayout;

    #[test]
    fn argmax_takes_the_first_class_on_ties_and_crops() {
        // K=3, 1x3 output, region 2x1.
        let values = [
            1.0, 5.0, 2.0, /* c1 */ 3.0, 5.0, 9.0, /* c2 */ 0.0, 1.0, 9.0,
        ];
        let mut map = ClassMap::default();
        map.decide(&[1, 3, 1, 3], &values, 2, 1, 0.5, BinaryScores::Probability)
            .unwrap();
        assert_eq!(map.ids, [1, 0]);
    }

    #[test]
    fn binary_outputs_use_the_threshold_in_their_units() {
        let mut map = ClassMap::default();
        map.decide(
            &[1, 1, 1, 3],
            &[0.2, 0.5, 0.9],
            3,
            1,
            0.5,
            BinaryScores::Probability,
        )
        .unwrap();
        assert_eq!(map.ids, [0, 1, 1]);
        // logit(0.8) = 1.386
        map.decide(
            &[1, 1, 1, 3],
            &[1.0, 1.39, -4.0],
            3,
            1,
            0.8,
            BinaryScores::Logit,
        )
        .unwrap();
        assert_eq!(map.ids, [0, 1, 0]);
    }

    #[test]
    fn bad_shapes_are_named() {
        let err = ClassMap::default()
            .decide(&[1, 3, 4], &[0.0; 12], 4, 1, 0.5, BinaryScores::Probability)
            .unwrap_err();
        assert!(err.message().contains("[1,3,4]"), "{err}");
    }

    #[test]
    fn nearest_scaling_keeps_ids() {
        let map = ClassMap {
            width: 2,
            height: 2,
            ids: vec![1, 2, 3, 4],
            ..Default::default()
        };
        let mut out = Vec::new();
        map.scale_nearest_into(4, 2, &mut out, &mut Vec::new());
        assert_eq!(out, [1, 1, 2, 2, 3, 3, 4, 4]);
        map.scale_nearest_into(1, 1, &mut out, &mut Vec::new());
        assert_eq!(out.len(), 1);
        assert!((1..=4).contains(&out[0]));
    }

    #[test]
    fn fractions_sum_to_one() {
        let mut f = Vec::new();
        class_fractions(&[0, 1, 1, 3], 4, &mut f);
        assert_eq!(f, [0.25, 0.5, 0.0, 0.25]);
    }

    #[test]
    fn palettes_parse_and_stay_distinct() {
        let p = Palette::parse("class_colors", "0,0,0; 255,10,3").unwrap();
        assert_eq!(p.0, [[0, 0, 0], [255, 10, 3]]);
        let err = Palette::parse("class_colors", "1,2,3;4,5").unwrap_err();
        assert!(
            err.message()
                .contains("'class_colors' entry 2 of '1,2,3;4,5' is '4,5'"),
            "{err}"
        );
        let d = Palette::distinct(256);
        let unique: std::collections::HashSet<_> = d.0.iter().collect();
        assert_eq!(unique.len(), 256);
    }

    #[test]
    fn overlay_blends_and_skips_background() {
        let palette = Palette(vec![[0, 0, 0], [200, 100, 0]]);
        let mut data = vec![100u8, 100, 100, 7, 100, 100, 100, 9];
        let mut frame = ImageMut {
            data: &mut data,
            width: 2,
            height: 1,
            stride: 8,
            layout: PixelLayout::RGBA,
        };
        draw_classes(&mut frame, &[0, 1], &palette, 0.5, true);
        assert_eq!(data, [100, 100, 100, 7, 150, 100, 50, 9]);
    }
}
