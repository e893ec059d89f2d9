// SPDX-License-Identifier: MIT OR Apache-2.0
//! Packed RGB-family pixels <-> planar float tensors, as the model's pre-processing says.
//!
//! Images are walked row by row with their stride, so padded rows are fine; bytes that are not
//! colour (alpha, padding) are never written.

use super::model::Preprocessing;

/// Where R, G and B sit inside one packed pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelLayout {
    /// Bytes of one pixel: 3 or 4 (the converters handle no other size).
    pub bytes_per_pixel: usize,
    /// Byte offsets of R, G and B inside a pixel.
    pub rgb_offsets: [usize; 3],
}

impl PixelLayout {
    /// RGB, 3 bytes a pixel.
    pub const RGB: Self = Self::new(3, [0, 1, 2]);
    /// BGR, 3 bytes a pixel.
    pub const BGR: Self = Self::new(3, [2, 1, 0]);
    /// RGBA and RGBx.
    pub const RGBA: Self = Self::new(4, [0, 1, 2]);
    /// BGRA and BGRx.
    pub const BGRA: Self = Self::new(4, [2, 1, 0]);
    /// ARGB and xRGB.
    pub const ARGB: Self = Self::new(4, [1, 2, 3]);
    /// ABGR and xBGR.
    pub const ABGR: Self = Self::new(4, [3, 2, 1]);

    /// A layout of `bytes_per_pixel` (3 or 4) bytes with R, G and B at `rgb_offsets`.
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
    /// The pixels, row after row, `stride` bytes apart; at least
    /// `(height - 1) * stride + layout.row_bytes(width)` bytes.
    pub data: &'a [u8],
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Bytes from the start of one row to the next (at least `layout.row_bytes(width)`).
    pub stride: usize,
    /// Where R, G and B sit in a pixel.
    pub layout: PixelLayout,
}

/// A writable packed image.
#[derive(Debug)]
pub struct ImageMut<'a> {
    /// The pixels, row after row, `stride` bytes apart; at least
    /// `(height - 1) * stride + layout.row_bytes(width)` bytes.
    pub data: &'a mut [u8],
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Bytes from the start of one row to the next (at least `layout.row_bytes(width)`).
    pub stride: usize,
    /// Where R, G and B sit in a pixel.
    pub layout: PixelLayout,
}

impl ImageMut<'_> {
    /// A read-only view of the same pixels.
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
/// is a load, whatever the value range and mean/std are. A one-channel (luma) model's value is
/// the sum of three lookups, one per RGB component, with the luma weights, mean and std folded
/// into the tables.
#[derive(Clone)]
pub struct InputEncoder {
    /// Colour: `lut[c][level]`, the value of tensor channel `c` for pixel level `level`.
    /// Luma: `lut[k][level]`, RGB component `k`'s share of the value.
    lut: Box<[[f32; 256]; 3]>,
    /// Colour: `source[c]`, which RGB component tensor channel `c` reads. Luma: R, G, B.
    source: [usize; 3],
    /// The tensor's channels: 3 or 1.
    channels: usize,
}

impl InputEncoder {
    /// The encoder for `p` and a model input of `channels` (3, or 1 for luma): value range,
    /// channel order, mean and std (`value = (level / 255 * full_scale - mean) / std`; luma:
    /// `level` is `kr R + kg G + kb B`, and mean and std their luma-weighted sums).
    pub fn new(p: &Preprocessing, channels: usize) -> Self {
        let scale = p.input_range.full_scale() / 255.0;
        let mut lut = Box::new([[0.0f32; 256]; 3]);
        let mut source = [0; 3];
        if channels == 1 {
            let w = p.luma.weights();
            let weighted = |v: [f32; 3]| w[0] * v[0] + w[1] * v[1] + w[2] * v[2];
            let (mean, std) = (weighted(p.mean), weighted(p.std));
            for (k, table) in lut.iter_mut().enumerate() {
                source[k] = k;
                let offset = if k == 0 { mean } else { 0.0 };
                for (level, value) in table.iter_mut().enumerate() {
                    *value = (w[k] * level as f32 * scale - offset) / std;
                }
            }
        } else {
            for (c, table) in lut.iter_mut().enumerate() {
                let k = p.channel_order.rgb_index(c);
                source[c] = k;
                for (level, value) in table.iter_mut().enumerate() {
                    *value = (level as f32 * scale - p.mean[k]) / p.std[k];
                }
            }
        }
        Self {
            lut,
            source,
            channels: if channels == 1 { 1 } else { 3 },
        }
    }

    /// The tensor's channels (3, or 1 for luma).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Fills `tensor` (planar, channels x `tensor_height` x `tensor_width`) from `image`. A
    /// tensor larger than the image is filled by repeating the last column and row, so a
    /// model that needs a size multiple sees no artificial border.
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
        assert!(
            tensor.len() >= self.channels * plane_len,
            "tensor too small"
        );
        let (w, h) = (image.width, image.height);
        let offsets = self.source.map(|k| image.layout.rgb_offsets[k]);
        let row_of = |y: usize| {
            let row = &image.data[y.min(h - 1) * image.stride..];
            &row[..image.layout.row_bytes(w)]
        };
        let pad = |out: &mut [f32]| {
            let last = out[w - 1];
            out[w..].fill(last);
        };
        if self.channels == 1 {
            let rows_out = tensor[..plane_len].chunks_exact_mut(tensor_width);
            for (y, out) in rows_out.enumerate() {
                match image.layout.bytes_per_pixel {
                    3 => encode_luma_row::<3>(row_of(y), offsets, &self.lut, &mut out[..w]),
                    4 => encode_luma_row::<4>(row_of(y), offsets, &self.lut, &mut out[..w]),
                    n => unreachable!("no {n}-byte pixel layout"),
                }
                pad(out);
            }
            return;
        }
        let (p0, rest) = tensor[..3 * plane_len].split_at_mut(plane_len);
        let (p1, p2) = rest.split_at_mut(plane_len);
        let rows_out = p0
            .chunks_exact_mut(tensor_width)
            .zip(p1.chunks_exact_mut(tensor_width))
            .zip(p2.chunks_exact_mut(tensor_width));
        for (y, ((o0, o1), o2)) in rows_out.enumerate() {
            let outs = [&mut o0[..w], &mut o1[..w], &mut o2[..w]];
            match image.layout.bytes_per_pixel {
                3 => encode_row::<3>(row_of(y), offsets, &self.lut, outs),
                4 => encode_row::<4>(row_of(y), offsets, &self.lut, outs),
                n => unreachable!("no {n}-byte pixel layout"),
            }
            for out in [o0, o1, o2] {
                pad(out);
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

/// One row of pixels into the luma plane's row.
#[inline(always)]
fn encode_luma_row<const BPP: usize>(
    row: &[u8],
    offsets: [usize; 3],
    lut: &[[f32; 256]; 3],
    out: &mut [f32],
) {
    for (px, v) in row.chunks_exact(BPP).zip(out) {
        *v = lut[0][px[offsets[0]] as usize]
            + lut[1][px[offsets[1]] as usize]
            + lut[2][px[offsets[2]] as usize];
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
    /// The decoder for `p`: output value range and channel order (levels outside 0..=255 are
    /// clamped when written, NaN as 0).
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
    /// `tensor_height` x `tensor_width`) into `image`, blended with the original by `strength`
    /// (0..=1: 0 keeps the original, 1 writes the output alone).
    pub fn decode(
        &self,
        tensor: &[f32],
        tensor_width: usize,
        tensor_height: usize,
        image: &mut ImageMut,
        strength: f32,
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { self.decode_avx2(tensor, tensor_width, tensor_height, image, strength) };
            return;
        }
        self.decode_any(tensor, tensor_width, tensor_height, image, strength);
    }

    /// [`OutputDecoder::decode`] compiled for AVX2 (8 lanes and blends for the per-run loops).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn decode_avx2(
        &self,
        tensor: &[f32],
        tensor_width: usize,
        tensor_height: usize,
        image: &mut ImageMut,
        strength: f32,
    ) {
        self.decode_any(tensor, tensor_width, tensor_height, image, strength);
    }

    #[inline(always)]
    fn decode_any(
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
        let (width, stride) = (image.width, image.stride);
        let layout = image.layout;
        let row_len = layout.row_bytes(width);
        for (y, row) in image.data.chunks_mut(stride).take(image.height).enumerate() {
            let planes = planes.map(|p| &p[y * tensor_width..y * tensor_width + width]);
            write_row(&mut row[..row_len], layout, strength, |start, new| {
                for (plane, new) in planes.iter().zip(new.iter_mut()) {
                    let values = &plane[start..(start + RUN).min(width)];
                    for (n, v) in new.iter_mut().zip(values) {
                        *n = v * scale;
                    }
                }
            });
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
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { blend_rgb8_avx2(rgb, image, strength) };
        return;
    }
    blend_rgb8_any(rgb, image, strength);
}

/// [`blend_rgb8`] compiled for AVX2 (8 lanes and blends for the per-run loops).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn blend_rgb8_avx2(rgb: &[u8], image: &mut ImageMut, strength: f32) {
    blend_rgb8_any(rgb, image, strength);
}

#[inline(always)]
fn blend_rgb8_any(rgb: &[u8], image: &mut ImageMut, strength: f32) {
    let row_len = image.width * 3;
    assert!(rgb.len() >= row_len * image.height, "RGB buffer too small");
    let (width, stride, layout) = (image.width, image.stride, image.layout);
    let frame_row_len = layout.row_bytes(width);
    // Bytes in, bytes out: the blend in 1/256ths on integers, no float round trip.
    let weight = (strength.clamp(0.0, 1.0) * 256.0 + 0.5) as i32;
    let rows = image.data.chunks_mut(stride).zip(rgb.chunks_exact(row_len));
    for (row, rgb_row) in rows.take(image.height) {
        let row = &mut row[..frame_row_len];
        match layout.bytes_per_pixel {
            3 => blend_bytes::<3>(row, layout.rgb_offsets, rgb_row, weight),
            4 => blend_bytes::<4>(row, layout.rgb_offsets, rgb_row, weight),
            n => unreachable!("no {n}-byte pixel layout"),
        }
    }
}

/// `original + ((new - original) * weight + 128) >> 8` for the colour bytes of one row.
#[inline(always)]
fn blend_bytes<const BPP: usize>(row: &mut [u8], offsets: [usize; 3], rgb: &[u8], weight: i32) {
    for (px, new) in row.chunks_exact_mut(BPP).zip(rgb.chunks_exact(3)) {
        for (c, o) in offsets.into_iter().enumerate() {
            let old = px[o] as i32;
            px[o] = (old + (((new[c] as i32 - old) * weight + 128) >> 8)) as u8;
        }
    }
}

/// Pixels converted at a time: enough for the per-channel loops to vectorise, small enough
/// for the run to stay in registers and L1.
const RUN: usize = 64;

/// New levels (any float) of up to [`RUN`] pixels, per RGB component.
type Levels = [[f32; RUN]; 3];

/// Writes new levels into the colour bytes of one `row` of `layout` pixels, run by run:
/// `fill(start, levels)` gives the levels of pixels `start..start + RUN` (or to the row's
/// end). Each level is clamped to 0..=255 (NaN as 0) and rounded, then blended with the
/// original by `strength` (`original + (new - original) * strength`, rounded; strength in
/// 1/256ths).
#[inline(always)]
fn write_row(
    row: &mut [u8],
    layout: PixelLayout,
    strength: f32,
    fill: impl FnMut(usize, &mut Levels),
) {
    match layout.bytes_per_pixel {
        3 => write_row_of::<3>(row, layout.rgb_offsets, strength, fill),
        4 => write_row_of::<4>(row, layout.rgb_offsets, strength, fill),
        n => unreachable!("no {n}-byte pixel layout"),
    }
}

#[inline(always)]
fn write_row_of<const BPP: usize>(
    row: &mut [u8],
    offsets: [usize; 3],
    strength: f32,
    mut fill: impl FnMut(usize, &mut Levels),
) {
    let strength = strength.clamp(0.0, 1.0);
    let mut new = [[0f32; RUN]; 3];
    let mut out = [[0u8; RUN]; 3];
    for (start, pixels) in (0..).step_by(RUN).zip(row.chunks_mut(RUN * BPP)) {
        let n = pixels.len() / BPP;
        fill(start, &mut new);
        if strength >= 1.0 {
            for (out, new) in out.iter_mut().zip(&new) {
                for (o, v) in out[..n].iter_mut().zip(&new[..n]) {
                    *o = to_level(*v);
                }
            }
        } else {
            // The originals, per component, then the blend in 1/256ths on 32-bit integer
            // lanes (vectorises): original + ((new - original) * s + 128) >> 8.
            let weight = (strength * 256.0 + 0.5) as i32;
            let mut old = [[0u8; RUN]; 3];
            for (i, px) in pixels.chunks_exact(BPP).enumerate() {
                for (old, o) in old.iter_mut().zip(offsets) {
                    old[i] = px[o];
                }
            }
            for ((out, new), old) in out.iter_mut().zip(&new).zip(&old) {
                for ((o, v), old) in out[..n].iter_mut().zip(&new[..n]).zip(&old[..n]) {
                    let (new, old) = (to_level(*v) as i32, *old as i32);
                    *o = (old + (((new - old) * weight + 128) >> 8)) as u8;
                }
            }
        }
        for (i, px) in pixels.chunks_exact_mut(BPP).enumerate() {
            for (c, o) in offsets.into_iter().enumerate() {
                px[o] = out[c][i];
            }
        }
    }
}

/// Rounds a level to a byte: clamped to 0..=255, NaN as 0 (a model may produce NaN; the frame
/// must stay valid). Written so that it vectorises: NaN fails the comparison and becomes 0,
/// and the clamped value converts without Rust's saturating-cast fix-ups.
#[inline(always)]
fn to_level(v: f32) -> u8 {
    let x = v + 0.5;
    let x = if x >= 0.0 { x } else { 0.0 };
    let x = if x <= 255.0 { x } else { 255.0 };
    // SAFETY: x is finite and within 0..=255 here.
    unsafe { x.to_int_unchecked::<i32>() as u8 }
}

/// The tensor size a dynamic model runs at for a frame: each side rounded up to `multiple`.
pub fn padded_size(width: usize, height: usize, multiple: usize) -> (usize, usize) {
    let m = multiple.max(1);
    (width.div_ceil(m) * m, height.div_ceil(m) * m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::model::{ChannelOrder, ValueRange};

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
        InputEncoder::new(&p, 3).encode(&img, &mut t, 1, 1);
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
        InputEncoder::new(&p, 3).encode(&img, &mut t, tw, th);
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
