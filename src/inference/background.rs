// SPDX-License-Identifier: MIT OR Apache-2.0
//! Person (foreground) segmentation as camera users want it: keep the person and blur the
//! background, replace it with a colour or a picture, or make it transparent. The edges are
//! soft: the foreground probability is computed at model resolution, interpolated bilinearly
//! to every frame pixel (optionally feathered), and used as the blend weight.

use super::convert::{ImageMut, to_rgb8};
use super::error::Error;
use super::resize::{Resizer, Size};
use super::score_map::{ScoreMap, Upsampler};
use super::segmentation::BinaryScores;

/// What goes behind the person.
#[derive(Debug, Clone, PartialEq)]
pub enum Backdrop {
    /// The frame itself, blurred: averaged over blocks of `strength` pixels and smoothed back
    /// up to the frame size.
    Blur {
        /// The block size in frame pixels (2 or more).
        strength: usize,
    },
    /// A plain colour (R, G, B).
    Colour([u8; 3]),
    /// A picture, packed RGB of `size`, resized to each frame size as needed.
    Picture {
        /// The picture's pixels.
        rgb: Vec<u8>,
        /// Its size.
        size: Size,
    },
}

impl Backdrop {
    /// Reads a picture file (PNG or JPEG) as a backdrop; the error names the file.
    pub fn picture(path: &std::path::Path) -> Result<Self, Error> {
        let shown = super::error::shown(path);
        let image = image::ImageReader::open(path)
            .map_err(|e| {
                let message = format!("background picture '{shown}': {e}");
                match e.kind() {
                    std::io::ErrorKind::NotFound => Error::not_found(message),
                    _ => Error::unreadable(message),
                }
            })?
            .with_guessed_format()
            .map_err(|e| Error::unreadable(format!("background picture '{shown}': {e}")))?
            .decode()
            .map_err(|e| {
                Error::unreadable(format!(
                    "background picture '{shown}' cannot be decoded (PNG and JPEG are read): {e}"
                ))
            })?
            .into_rgb8();
        let size = Size {
            width: image.width() as usize,
            height: image.height() as usize,
        };
        Ok(Self::Picture {
            rgb: image.into_raw(),
            size,
        })
    }
}

/// The foreground probability of a segmentation result, at model and at frame resolution,
/// and what compositing needs; buffers are kept between frames (nothing is allocated per frame
/// once the sizes settle).
#[derive(Default)]
pub struct Foreground {
    /// At model resolution: one plane, 0 to 1.
    plane: ScoreMap,
    upsampler: Upsampler,
    /// At frame resolution: the blend weight of the frame, 0 (background) to 255 (person).
    alpha: Vec<u8>,
    /// The frame size of `alpha` (width, height).
    alpha_size: (usize, usize),
    /// Feathering: the weights at frame size, then averaged over blocks.
    soft: ScoreMap,
    soft_blocks: ScoreMap,
    feather_upsampler: Upsampler,
    /// The backdrop at frame size (packed RGB), and what made it.
    behind: Vec<u8>,
    frame_rgb: Vec<u8>,
    frame_blocks: ScoreMap,
    blur_upsampler: Upsampler,
    /// What `behind` holds when it outlasts a frame (a colour or the picture, at a frame size).
    behind_holds: Option<Held>,
    resizer: Resizer,
}

impl Foreground {
    /// Computes the foreground probability at model resolution from class `scores`: for one
    /// channel, the probability itself (through a sigmoid when the model gives logits); for
    /// K classes, 1 - P(class 0) (through a softmax when the model gives logits).
    pub fn from_scores(&mut self, scores: &ScoreMap, units: BinaryScores) {
        let plane = scores.width * scores.height;
        self.plane.classes = 1;
        self.plane.width = scores.width;
        self.plane.height = scores.height;
        self.plane.values.resize(plane, 0.0);
        let values = &scores.values;
        for (i, p) in self.plane.values.iter_mut().enumerate() {
            *p = match (scores.classes, units) {
                (1, BinaryScores::Probability) => values[i],
                (1, BinaryScores::Logit) => 1.0 / (1.0 + (-values[i]).exp()),
                (k, BinaryScores::Probability) => 1.0 - values[i] / class_sum(values, k, plane, i),
                (k, BinaryScores::Logit) => {
                    let max = (0..k)
                        .map(|c| values[c * plane + i])
                        .fold(f32::MIN, f32::max);
                    let sum: f32 = (0..k).map(|c| (values[c * plane + i] - max).exp()).sum();
                    1.0 - (values[i] - max).exp() / sum
                }
            };
            // NaN is background; the rest within 0..=1.
            *p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        }
    }

    /// The foreground probability interpolated to a `width` x `height` frame, as blend
    /// weights 0..=255, then feathered over about `feather` pixels (0: not at all).
    pub fn to_frame(&mut self, width: usize, height: usize, feather: usize) -> Result<(), Error> {
        let size = Size { width, height };
        self.alpha.resize(width * height, 0);
        self.alpha_size = (width, height);
        if feather < 2 {
            let alpha = &mut self.alpha;
            self.upsampler.rows(&self.plane, width, height, |y, row| {
                for (a, p) in alpha[y * width..(y + 1) * width].iter_mut().zip(row) {
                    *a = (p * 255.0 + 0.5) as u8;
                }
            });
            return Ok(());
        }
        // Feathered: the probability at frame size averaged over blocks of `feather` pixels
        // and interpolated back up, a blur whose cost does not grow with its width.
        self.soft.classes = 1;
        self.soft.width = width;
        self.soft.height = height;
        self.soft.values.resize(width * height, 0.0);
        let soft = &mut self.soft.values;
        self.upsampler.rows(&self.plane, width, height, |y, row| {
            soft[y * width..(y + 1) * width].copy_from_slice(row);
        });
        let values = &self.soft.values;
        block_average(size, 1, feather, |i, _| values[i], &mut self.soft_blocks);
        let alpha = &mut self.alpha;
        self.feather_upsampler
            .rows(&self.soft_blocks, width, height, |y, row| {
                for (a, p) in alpha[y * width..(y + 1) * width].iter_mut().zip(row) {
                    *a = (p.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
                }
            });
        Ok(())
    }

    /// The blend weights of the last [`Foreground::to_frame`], row-major.
    pub fn alpha(&self) -> &[u8] {
        &self.alpha
    }

    /// Keeps the person in `frame` and puts `backdrop` behind: each pixel is the frame
    /// weighted by its foreground probability plus the backdrop weighted by the rest.
    pub fn composite(&mut self, frame: &mut ImageMut, backdrop: &Backdrop) -> Result<(), Error> {
        let size = Size {
            width: frame.width,
            height: frame.height,
        };
        let dims = (size.width, size.height);
        if self.alpha_size != dims {
            return Err(Error::inference(
                "the foreground is not at the frame's size",
            ));
        }
        match backdrop {
            Backdrop::Blur { strength } => {
                // The frame averaged over blocks of `strength` pixels, interpolated back up.
                self.frame_rgb.resize(size.rgb_len(), 0);
                to_rgb8(&frame.as_ref(), &mut self.frame_rgb);
                let rgb = &self.frame_rgb;
                block_average(
                    size,
                    3,
                    *strength,
                    |i, c| f32::from(rgb[3 * i + c]),
                    &mut self.frame_blocks,
                );
                self.behind.resize(size.rgb_len(), 0);
                let (behind, width) = (&mut self.behind, size.width);
                self.blur_upsampler
                    .rows(&self.frame_blocks, width, size.height, |y, row| {
                        let out = &mut behind[y * width * 3..(y + 1) * width * 3];
                        for (c, plane_row) in row.chunks_exact(width).enumerate() {
                            for (x, v) in plane_row.iter().enumerate() {
                                out[3 * x + c] = (v + 0.5) as u8;
                            }
                        }
                    });
                self.behind_holds = None;
            }
            // A colour or the picture is made once per frame size (and colour).
            Backdrop::Colour(colour) => {
                let held = Some(Held::Colour(dims, *colour));
                if self.behind_holds != held {
                    self.behind.resize(size.rgb_len(), 0);
                    for px in self.behind.chunks_exact_mut(3) {
                        px.copy_from_slice(colour);
                    }
                    self.behind_holds = held;
                }
            }
            Backdrop::Picture { rgb, size: picture } => {
                let held = Some(Held::Picture(dims));
                if self.behind_holds != held {
                    self.behind.resize(size.rgb_len(), 0);
                    self.resizer.resize(rgb, *picture, &mut self.behind, size)?;
                    self.behind_holds = held;
                }
            }
        }
        blend_behind(frame, &self.alpha, &self.behind);
        Ok(())
    }

    /// Makes the background transparent: the alpha byte of each pixel of `frame` (a format
    /// with alpha) becomes its foreground weight; the colours stay.
    pub fn cut_out(&self, frame: &mut ImageMut) {
        let width = frame.width;
        write_alpha(frame, |x, y| self.alpha[y * width + x]);
    }
}

/// Sets the alpha byte of every pixel of `frame` (a format with alpha) to `value`.
pub fn fill_alpha(frame: &mut ImageMut, value: u8) {
    write_alpha(frame, |_, _| value);
}

/// Writes `alpha(x, y)` into the alpha byte of each pixel of `frame` (a 4-byte layout whose
/// fourth byte, the one R, G and B leave, is alpha).
fn write_alpha(frame: &mut ImageMut, alpha: impl Fn(usize, usize) -> u8) {
    let layout = frame.layout;
    // R, G, B and A take the four byte offsets 0 to 3.
    let alpha_at = 6 - layout.rgb_offsets.iter().sum::<usize>();
    let row_len = layout.row_bytes(frame.width);
    for y in 0..frame.height {
        let row = &mut frame.data[y * frame.stride..y * frame.stride + row_len];
        for (x, px) in row.chunks_exact_mut(4).enumerate() {
            px[alpha_at] = alpha(x, y);
        }
    }
}

/// What the backdrop buffer holds between frames, and for which frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Colour((usize, usize), [u8; 3]),
    Picture((usize, usize)),
}

/// The sum of the K class scores of pixel `i` (planes `plane` apart), never 0.
fn class_sum(values: &[f32], k: usize, plane: usize, i: usize) -> f32 {
    let sum: f32 = (0..k).map(|c| values[c * plane + i]).sum();
    if sum > 0.0 { sum } else { 1.0 }
}

/// Averages `channels` planes of a `size` image over blocks of `factor` x `factor` pixels
/// (the last row and column of blocks over what remains) into `out`; `value(i, c)` is channel
/// `c` of pixel `i` (row-major).
fn block_average(
    size: Size,
    channels: usize,
    factor: usize,
    value: impl Fn(usize, usize) -> f32,
    out: &mut ScoreMap,
) {
    let factor = factor.max(1);
    let (width, height) = (size.width.div_ceil(factor), size.height.div_ceil(factor));
    out.classes = channels;
    out.width = width;
    out.height = height;
    out.values.clear();
    out.values.resize(channels * width * height, 0.0);
    let plane = width * height;
    for y in 0..size.height {
        let block_row = (y / factor) * width;
        for x in 0..size.width {
            let i = y * size.width + x;
            let block = block_row + x / factor;
            for c in 0..channels {
                out.values[c * plane + block] += value(i, c);
            }
        }
    }
    for by in 0..height {
        let rows = factor.min(size.height - by * factor);
        for bx in 0..width {
            let count = (rows * factor.min(size.width - bx * factor)) as f32;
            for c in 0..channels {
                out.values[c * plane + by * width + bx] /= count;
            }
        }
    }
}

/// Each pixel of `frame` becomes `a * frame + (255 - a) * behind`, rounded, with `a` its
/// weight in `alpha`.
fn blend_behind(frame: &mut ImageMut, alpha: &[u8], behind: &[u8]) {
    let layout = frame.layout;
    let row_len = layout.row_bytes(frame.width);
    let width = frame.width;
    for y in 0..frame.height {
        let row = &mut frame.data[y * frame.stride..y * frame.stride + row_len];
        let weights = &alpha[y * width..(y + 1) * width];
        let back = &behind[y * width * 3..(y + 1) * width * 3];
        for ((px, a), b) in row
            .chunks_exact_mut(layout.bytes_per_pixel)
            .zip(weights)
            .zip(back.chunks_exact(3))
        {
            let a = u32::from(*a);
            for (k, &o) in layout.rgb_offsets.iter().enumerate() {
                let mixed = u32::from(px[o]) * a + u32::from(b[k]) * (255 - a);
                px[o] = ((mixed + 127) / 255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::PixelLayout;

    fn map(classes: usize, width: usize, height: usize, values: Vec<f32>) -> ScoreMap {
        ScoreMap {
            classes,
            width,
            height,
            values,
        }
    }

    #[test]
    fn foreground_is_the_probability_or_one_minus_the_background() {
        let mut f = Foreground::default();
        f.from_scores(
            &map(1, 2, 1, vec![0.25, f32::NAN]),
            BinaryScores::Probability,
        );
        assert_eq!(f.plane.values, [0.25, 0.0]);
        f.from_scores(&map(1, 1, 1, vec![0.0]), BinaryScores::Logit);
        assert_eq!(f.plane.values, [0.5]);
        // K = 2 softmax scores: 1 - P(background).
        f.from_scores(&map(2, 1, 1, vec![0.2, 0.8]), BinaryScores::Probability);
        assert!((f.plane.values[0] - 0.8).abs() < 1e-6);
        // K = 2 logits (0, ln 3): P(background) = 1/4.
        f.from_scores(&map(2, 1, 1, vec![0.0, 3f32.ln()]), BinaryScores::Logit);
        assert!((f.plane.values[0] - 0.75).abs() < 1e-6);
    }

    #[test]
    fn blocks_average_what_they_cover() {
        // 5x2, one channel, blocks of 2: [0,1 | 2,3 | 4] over two rows.
        let values: Vec<f32> = (0..10)
            .map(|i| (i % 5) as f32 + 10.0 * (i / 5) as f32)
            .collect();
        let mut out = ScoreMap::default();
        let size = Size {
            width: 5,
            height: 2,
        };
        block_average(size, 1, 2, |i, _| values[i], &mut out);
        assert_eq!((out.width, out.height), (3, 1));
        assert_eq!(out.values, [5.5, 7.5, 9.0]);
    }

    #[test]
    fn colour_behind_blends_by_the_weight_and_cut_out_sets_alpha() {
        let mut f = Foreground::default();
        f.from_scores(
            &map(1, 3, 1, vec![1.0, 0.0, 0.5]),
            BinaryScores::Probability,
        );
        f.to_frame(3, 1, 0).unwrap();
        assert_eq!(f.alpha(), [255, 0, 128]);
        let mut data = vec![100u8, 100, 100, 7, 100, 100, 100, 7, 100, 100, 100, 7];
        let mut frame = ImageMut {
            data: &mut data,
            width: 3,
            height: 1,
            stride: 12,
            layout: PixelLayout::RGBA,
        };
        f.composite(&mut frame, &Backdrop::Colour([0, 200, 255]))
            .unwrap();
        assert_eq!(
            data,
            [100, 100, 100, 7, 0, 200, 255, 7, 50, 150, 177, 7],
            "person kept, background replaced, the edge mixed"
        );
        let mut frame = ImageMut {
            data: &mut data,
            width: 3,
            height: 1,
            stride: 12,
            layout: PixelLayout::RGBA,
        };
        f.cut_out(&mut frame);
        assert_eq!([data[3], data[7], data[11]], [255, 0, 128]);
    }
}
