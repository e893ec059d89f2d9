// SPDX-License-Identifier: MIT OR Apache-2.0
//! Packed RGB-family pixels <-> planar float tensors, as the model's pre-processing says.
//!
//! Images are walked row by row with their stride, so padded rows are fine; bytes that are not
//! colour (alpha, padding) are never written.

use super::model::Preprocessing;

/// Where R, G and B sit inside one packed pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelLayout {
    pub bytes_per_pixel: usize,
    /// Byte offsets of R, G and B inside a pixel.
    pub rgb_offsets: [usize; 3],
}

impl PixelLayout {
    pub const RGB: Self = Self::new(3, [0, 1, 2]);
    pub const BGR: Self = Self::new(3, [2, 1, 0]);
    /// RGBA and RGBx.
    pub const RGBA: Self = Self::new(4, [0, 1, 2]);
    /// BGRA and BGRx.
    pub const BGRA: Self = Self::new(4, [2, 1, 0]);
    /// ARGB and xRGB.
    pub const ARGB: Self = Self::new(4, [1, 2, 3]);
    /// ABGR and xBGR.
    pub const ABGR: Self = Self::new(4, [3, 2, 1]);

    pub const fn new(bytes_per_pixel: usize, rgb_offsets: [usize; 3]) -> Self {
        Self {
            bytes_per_pixel,
            rgb_offsets,
        }
    }

    /// Bytes needed by a row of `width` pixels.
    pub fn row_bytes(self, width: usize) -> usize {
        width * self.bytes_per_pixel
    }
}

/// A read-only packed image.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub layout: PixelLayout,
}

/// A writable packed image.
#[derive(Debug)]
pub struct ImageMut<'a> {
    pub data: &'a mut [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub layout: PixelLayout,
}

impl ImageMut<'_> {
    pub fn as_ref(&self) -> ImageRef<'_> {
        ImageRef {
            data: self.data,
            width: self.width,
            height: self.height,
            stride: self.stride,
            layout: self.layout,
        }
    }
}

fn rows(data: &[u8], stride: usize, height: usize) -> impl Iterator<Item = &[u8]> {
    // The last row may be shorter than the stride (no trailing padding).
    (0..height).map(move |y| &data[y * stride..])
}

/// Turns pixels into input values: one lookup table per tensor channel, so the per-pixel work
/// is a load, whatever the value range and mean/std are.
#[derive(Clone)]
pub struct InputEncoder {
    /// `lut[c][level]`: the value of tensor channel `c` for pixel level `level`.
    lut: Box<[[f32; 256]; 3]>,
    /// `source[c]`: which RGB component tensor channel `c` reads.
    source: [usize; 3],
}

impl InputEncoder {
    pub fn new(p: &Preprocessing) -> Self {
        let scale = p.input_range.full_scale() / 255.0;
        let mut lut = Box::new([[0.0f32; 256]; 3]);
        let mut source = [0; 3];
        for (c, table) in lut.iter_mut().enumerate() {
            let k = p.channel_order.rgb_index(c);
            source[c] = k;
            for (level, value) in table.iter_mut().enumerate() {
                *value = (level as f32 * scale - p.mean[k]) / p.std[k];
            }
        }
        Self { lut, source }
    }

    /// Fills `tensor` (planar, 3 x `tensor_height` x `tensor_width`) from `image`. A tensor
    /// larger than the image is filled by repeating the last column and row, so a model that
    /// needs a size multiple sees no artificial border.
    pub fn encode(
        &self,
        image: &ImageRef,
        tensor: &mut [f32],
        tensor_width: usize,
        tensor_height: usize,
    ) {
        assert!(tensor_width >= image.width && tensor_height >= image.height);
        assert!(image.width > 0 && image.height > 0);
        let plane_len = tensor_width * tensor_height;
        assert!(tensor.len() >= 3 * plane_len, "tensor too small");
        let (w, h) = (image.width, image.height);
        let offsets = self.source.map(|k| image.layout.rgb_offsets[k]);
        let (p0, rest) = tensor[..3 * plane_len].split_at_mut(plane_len);
        let (p1, p2) = rest.split_at_mut(plane_len);
        let rows_out = p0
            .chunks_exact_mut(tensor_width)
            .zip(p1.chunks_exact_mut(tensor_width))
            .zip(p2.chunks_exact_mut(tensor_width));
        for (y, ((o0, o1), o2)) in rows_out.enumerate() {
            let row = &image.data[y.min(h - 1) * image.stride..];
            let row = &row[..image.layout.row_bytes(w)];
            let outs = [&mut o0[..w], &mut o1[..w], &mut o2[..w]];
            match image.layout.bytes_per_pixel {
                3 => encode_row::<3>(row, offsets, &self.lut, outs),
                4 => encode_row::<4>(row, offsets, &self.lut, outs),
                n => unreachable!("no {n}-byte pixel layout"),
            }
            for out in [o0, o1, o2] {
                let last = out[w - 1];
                out[w..].fill(last);
            }
        }
    }
}

/// One row of pixels into the three planes' rows (one pass over the pixels; `BPP` known at
/// compile time so that the loop unrolls).
#[inline(always)]
fn encode_row<const BPP: usize>(
    row: &[u8],
    offsets: [usize; 3],
    lut: &[[f32; 256]; 3],
    [o0, o1, o2]: [&mut [f32]; 3],
) {
    let pixels = row.chunks_exact(BPP).zip(o0).zip(o1).zip(o2);
    for (((px, v0), v1), v2) in pixels {
        *v0 = lut[0][px[offsets[0]] as usize];
        *v1 = lut[1][px[offsets[1]] as usize];
        *v2 = lut[2][px[offsets[2]] as usize];
    }
}

/// Turns an image output back into pixel levels.
#[derive(Debug, Clone, Copy)]
pub struct OutputDecoder {
    /// Multiplies an output value into the 0..255 level scale.
    to_level: f32,
    /// `plane_of[k]`: the tensor channel holding RGB component `k`.
    plane_of: [usize; 3],
}

impl OutputDecoder {
    pub fn new(p: &Preprocessing) -> Self {
        let mut plane_of = [0; 3];
        for (c, _) in plane_of.into_iter().enumerate() {
            plane_of[p.channel_order.rgb_index(c)] = c;
        }
        Self {
            to_level: 255.0 / p.output_range.full_scale(),
            plane_of,
        }
    }

    /// Writes the top-left `image.width` x `image.height` of `tensor` (planar, 3 x
    /// `tensor_height` x `tensor_width`) into `image`, blended with the original by `strength`.
    pub fn decode(
        &self,
        tensor: &[f32],
        tensor_width: usize,
        tensor_height: usize,
        image: &mut ImageMut,
        strength: f32,
    ) {
        assert!(tensor_width >= image.width && tensor_height >= image.height);
        let plane_len = tensor_width * tensor_height;
        assert!(tensor.len() >= 3 * plane_len, "tensor too small");
        let planes = self
            .plane_of
            .map(|c| &tensor[c * plane_len..(c + 1) * plane_len]);
        let scale = self.to_level;
        let bpp = image.layout.bytes_per_pixel;
        let (width, stride) = (image.width, image.stride);
        let row_len = image.layout.row_bytes(width);
        let offsets = image.layout.rgb_offsets;
        for (y, row) in image.data.chunks_mut(stride).take(image.height).enumerate() {
            let [r, g, b] = planes.map(|p| &p[y * tensor_width..y * tensor_width + width]);
            let new = r
                .iter()
                .zip(g)
                .zip(b)
                .map(|((r, g), b)| [r * scale, g * scale, b * scale]);
            let row = &mut row[..row_len];
            match bpp {
                3 => blend_row::<3>(row, offsets, strength, new),
                4 => blend_row::<4>(row, offsets, strength, new),
                n => unreachable!("no {n}-byte pixel layout"),
            }
        }
    }
}

/// Copies `image` into a tightly packed RGB buffer (3 bytes a pixel, no row padding).
pub fn to_rgb8(image: &ImageRef, rgb: &mut [u8]) {
    let row_len = image.width * 3;
    assert!(rgb.len() >= row_len * image.height, "RGB buffer too small");
    let bpp = image.layout.bytes_per_pixel;
    let [r, g, b] = image.layout.rgb_offsets;
    for (row, out) in
        rows(image.data, image.stride, image.height).zip(rgb.chunks_exact_mut(row_len))
    {
        for (px, o) in row.chunks(bpp).zip(out.chunks_exact_mut(3)) {
            o.copy_from_slice(&[px[r], px[g], px[b]]);
        }
    }
}

/// Writes a tightly packed RGB buffer of `image`'s size into `image`, blended by `strength`.
pub fn blend_rgb8(rgb: &[u8], image: &mut ImageMut, strength: f32) {
    let row_len = image.width * 3;
    assert!(rgb.len() >= row_len * image.height, "RGB buffer too small");
    let (width, stride) = (image.width, image.stride);
    let frame_row_len = image.layout.row_bytes(width);
    let offsets = image.layout.rgb_offsets;
    let rows = image.data.chunks_mut(stride).zip(rgb.chunks_exact(row_len));
    for (row, new) in rows.take(image.height) {
        let row = &mut row[..frame_row_len];
        let levels = new
            .chunks_exact(3)
            .map(|p| [p[0] as f32, p[1] as f32, p[2] as f32]);
        match image.layout.bytes_per_pixel {
            3 => blend_row::<3>(row, offsets, strength, levels),
            4 => blend_row::<4>(row, offsets, strength, levels),
            n => unreachable!("no {n}-byte pixel layout"),
        }
    }
}

/// Writes the new levels of each pixel (RGB, any float; clamped to 0..255, NaN as 0) into the
/// colour bytes of one row: `original + (new - original) * strength`, rounded.
#[inline(always)]
fn blend_row<const BPP: usize>(
    row: &mut [u8],
    [o0, o1, o2]: [usize; 3],
    strength: f32,
    new: impl Iterator<Item = [f32; 3]>,
) {
    let strength = strength.clamp(0.0, 1.0);
    if strength >= 1.0 {
        for (px, [r, g, b]) in row.chunks_exact_mut(BPP).zip(new) {
            px[o0] = to_level(r);
            px[o1] = to_level(g);
            px[o2] = to_level(b);
        }
        return;
    }
    let blend = |old: u8, new: f32| {
        let new = if new.is_nan() {
            0.0
        } else {
            new.clamp(0.0, 255.0)
        };
        let old = old as f32;
        (old + (new - old) * strength + 0.5) as u8
    };
    for (px, [r, g, b]) in row.chunks_exact_mut(BPP).zip(new) {
        px[o0] = blend(px[o0], r);
        px[o1] = blend(px[o1], g);
        px[o2] = blend(px[o2], b);
    }
}

/// Rounds a level to a byte: clamped to 0..=255, NaN as 0 (a model may produce NaN; the frame
/// must stay valid; Rust's float-to-int cast saturates and maps NaN to 0).
#[inline(always)]
fn to_level(v: f32) -> u8 {
    (v + 0.5).clamp(0.0, 255.0) as u8
}

/// The tensor size a dynamic model runs at for a frame: each side rounded up to `multiple`.
pub fn padded_size(width: usize, height: usize, multiple: usize) -> (usize, usize) {
    let m = multiple.max(1);
    (width.div_ceil(m) * m, height.div_ceil(m) * m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{ChannelOrder, ValueRange};

    /// A test pattern whose row padding bytes are 0xEE.
    fn image(width: usize, height: usize, stride: usize, layout: PixelLayout) -> Vec<u8> {
        (0..stride * height)
            .map(|i| {
                if i % stride >= layout.row_bytes(width) {
                    0xEE
                } else {
                    (i * 37 % 251) as u8
                }
            })
            .collect()
    }

    #[test]
    fn encode_applies_range_mean_std_and_order() {
        let p = Preprocessing {
            input_range: ValueRange::Byte,
            mean: [10.0, 20.0, 30.0],
            std: [2.0, 4.0, 5.0],
            channel_order: ChannelOrder::Bgr,
            ..Default::default()
        };
        let data = [100u8, 150, 200, 7]; // one RGBA pixel
        let img = ImageRef {
            data: &data,
            width: 1,
            height: 1,
            stride: 4,
            layout: PixelLayout::RGBA,
        };
        let mut t = [0.0f32; 3];
        InputEncoder::new(&p).encode(&img, &mut t, 1, 1);
        assert_eq!(
            t,
            [
                (200.0 - 30.0) / 5.0,
                (150.0 - 20.0) / 4.0,
                (100.0 - 10.0) / 2.0
            ]
        );
    }

    #[test]
    fn encode_respects_stride_and_pads_by_repeating_edges() {
        let (w, h, stride) = (3, 2, 12);
        let data = image(w, h, stride, PixelLayout::BGR);
        let img = ImageRef {
            data: &data,
            width: w,
            height: h,
            stride,
            layout: PixelLayout::BGR,
        };
        let (tw, th) = (4, 4);
        let mut t = vec![0.0f32; 3 * tw * th];
        let p = Preprocessing {
            input_range: ValueRange::Byte,
            ..Default::default()
        };
        InputEncoder::new(&p).encode(&img, &mut t, tw, th);
        for c in 0..3 {
            for ty in 0..th {
                for tx in 0..tw {
                    let (x, y) = (tx.min(w - 1), ty.min(h - 1));
                    let expected = data[y * stride + x * 3 + (2 - c)] as f32; // BGR bytes
                    assert_eq!(t[c * tw * th + ty * tw + tx], expected, "c{c} ({tx},{ty})");
                }
            }
        }
    }

    #[test]
    fn decode_clamps_maps_nan_to_zero_and_keeps_alpha_and_padding() {
        let p = Preprocessing {
            output_range: ValueRange::Unit,
            ..Default::default()
        };
        // 2x1 tensor, planes R, G, B.
        let t = [0.5, f32::NAN, -3.0, 2.0, 1.0 / 255.0, 0.2];
        let mut data = vec![9u8, 9, 9, 77, 9, 9, 9, 88, 0xEE, 0xEE];
        let mut img = ImageMut {
            data: &mut data,
            width: 2,
            height: 1,
            stride: 10,
            layout: PixelLayout::RGBA,
        };
        OutputDecoder::new(&p).decode(&t, 2, 1, &mut img, 1.0);
        assert_eq!(data, [128, 0, 1, 77, 0, 255, 51, 88, 0xEE, 0xEE]);
    }

    #[test]
    fn decode_blends_by_strength() {
        let p = Preprocessing {
            output_range: ValueRange::Byte,
            ..Default::default()
        };
        let t = [200.0, 200.0, 200.0];
        for (strength, expected) in [(0.0, 100u8), (0.5, 150), (0.25, 125), (1.0, 200)] {
            let mut data = vec![100u8; 3];
            let mut img = ImageMut {
                data: &mut data,
                width: 1,
                height: 1,
                stride: 3,
                layout: PixelLayout::RGB,
            };
            OutputDecoder::new(&p).decode(&t, 1, 1, &mut img, strength);
            assert_eq!(data, [expected; 3], "strength {strength}");
        }
    }

    #[test]
    fn rgb8_round_trip_through_any_layout() {
        for layout in [
            PixelLayout::RGB,
            PixelLayout::BGR,
            PixelLayout::RGBA,
            PixelLayout::BGRA,
            PixelLayout::ARGB,
            PixelLayout::ABGR,
        ] {
            let (w, h) = (5, 3);
            let stride = layout.row_bytes(w) + 3;
            let data = image(w, h, stride, layout);
            let img = ImageRef {
                data: &data,
                width: w,
                height: h,
                stride,
                layout,
            };
            let mut rgb = vec![0u8; w * h * 3];
            to_rgb8(&img, &mut rgb);
            let mut copy = vec![0xEEu8; stride * h];
            // Non-colour bytes of the copy keep 0xEE; colour bytes come back equal.
            let mut out = ImageMut {
                data: &mut copy,
                width: w,
                height: h,
                stride,
                layout,
            };
            blend_rgb8(&rgb, &mut out, 1.0);
            for y in 0..h {
                for x in 0..w {
                    for &o in &layout.rgb_offsets {
                        let i = y * stride + x * layout.bytes_per_pixel + o;
                        assert_eq!(copy[i], data[i]);
                    }
                }
            }
        }
    }

    #[test]
    fn padded_size_rounds_up() {
        assert_eq!(padded_size(62, 46, 4), (64, 48));
        assert_eq!(padded_size(64, 48, 4), (64, 48));
        assert_eq!(padded_size(7, 5, 1), (7, 5));
    }
}
