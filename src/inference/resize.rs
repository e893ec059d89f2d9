// SPDX-License-Identifier: MIT OR Apache-2.0
//! Resizing tightly packed RGB images between frame size and a fixed model size, with
//! fast_image_resize (SIMD, area-aware when shrinking).

use super::error::Error;
use fast_image_resize as fir;

/// A reusable resizer of RGB frames and f32 maps (its internal buffers survive between frames).
pub struct Resizer {
    resizer: fir::Resizer,
    algorithm: fir::ResizeAlg,
}

impl Default for Resizer {
    fn default() -> Self {
        Self {
            resizer: fir::Resizer::new(),
            algorithm: fir::ResizeAlg::Convolution(fir::FilterType::Bilinear),
        }
    }
}

/// A tightly packed RGB image size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl Size {
    /// Bytes of a tightly packed RGB image of this size: `width * height * 3`.
    pub fn rgb_len(self) -> usize {
        self.width * self.height * 3
    }
}

impl Resizer {
    /// Resizes `src` (an RGB image of `src_size`) to fill `dst`.
    pub fn resize(
        &mut self,
        src: &[u8],
        src_size: Size,
        dst: &mut [u8],
        dst_size: Size,
    ) -> Result<(), Error> {
        self.resize_bytes(src, src_size, dst, dst_size, fir::PixelType::U8x3)
    }

    /// Resizes a single-channel float map (scores, errors) of `src_size` to fill `dst`.
    pub fn resize_f32(
        &mut self,
        src: &[f32],
        src_size: Size,
        dst: &mut [f32],
        dst_size: Size,
    ) -> Result<(), Error> {
        // fast_image_resize takes any pixel type as bytes.
        let (src, dst) = (bytemuck::cast_slice(src), bytemuck::cast_slice_mut(dst));
        self.resize_bytes(src, src_size, dst, dst_size, fir::PixelType::F32)
    }

    fn resize_bytes(
        &mut self,
        src: &[u8],
        src_size: Size,
        dst: &mut [u8],
        dst_size: Size,
        pixel: fir::PixelType,
    ) -> Result<(), Error> {
        let dims = |s: Size| -> Result<(u32, u32), Error> {
            Ok((
                u32::try_from(s.width).map_err(|e| Error::inference(e.to_string()))?,
                u32::try_from(s.height).map_err(|e| Error::inference(e.to_string()))?,
            ))
        };
        let (sw, sh) = dims(src_size)?;
        let (dw, dh) = dims(dst_size)?;
        let src_image = fir::images::ImageRef::new(sw, sh, src, pixel)
            .map_err(|e| Error::inference(format!("resize source: {e}")))?;
        let mut dst_image = fir::images::Image::from_slice_u8(dw, dh, dst, pixel)
            .map_err(|e| Error::inference(format!("resize destination: {e}")))?;
        let options = fir::ResizeOptions::new().resize_alg(self.algorithm);
        self.resizer
            .resize(&src_image, &mut dst_image, &options)
            .map_err(|e| Error::inference(format!("resize failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_regions_stay_flat() {
        let src_size = Size {
            width: 16,
            height: 6,
        };
        // Left half red-ish, right half blue-ish.
        let mut src = vec![0u8; src_size.rgb_len()];
        for (i, px) in src.chunks_exact_mut(3).enumerate() {
            px.copy_from_slice(if i % 16 < 8 {
                &[200, 10, 20]
            } else {
                &[5, 6, 250]
            });
        }
        let dst_size = Size {
            width: 32,
            height: 5,
        };
        let mut dst = vec![0u8; dst_size.rgb_len()];
        Resizer::default()
            .resize(&src, src_size, &mut dst, dst_size)
            .unwrap();
        for (i, px) in dst.chunks_exact(3).enumerate() {
            match i % 32 {
                0..12 => assert_eq!(px, [200, 10, 20]),
                20.. => assert_eq!(px, [5, 6, 250]),
                _ => {}
            }
        }
    }
}
