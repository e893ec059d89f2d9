// SPDX-License-Identifier: MIT OR Apache-2.0
//! Writes an image output [1,3,h,w] back into the frame: the part of the output that covers the
//! frame is taken (padding dropped), resized to the frame when its size differs (fixed-size or
//! up-scaling models), and blended with the original by `strength`.

use super::convert::{ImageMut, OutputDecoder, PixelLayout, blend_rgb8};
use super::model::{Preprocessing, format_shape};
use super::resize::{RgbResizer, Size};
use super::tensor_input::TensorLayout;

pub struct ImageOutput {
    decoder: OutputDecoder,
    region_rgb: Vec<u8>,
    frame_rgb: Vec<u8>,
    resizer: RgbResizer,
}

impl ImageOutput {
    pub fn new(pre: &Preprocessing) -> Self {
        Self {
            decoder: OutputDecoder::new(pre),
            region_rgb: Vec::new(),
            frame_rgb: Vec::new(),
            resizer: RgbResizer::default(),
        }
    }

    /// Writes the output `values` of `shape` into `frame`; `input` is where the frame lay in
    /// the input tensor.
    pub fn write(
        &mut self,
        shape: &[i64],
        values: &[f32],
        input: TensorLayout,
        frame: &mut ImageMut,
        strength: f32,
    ) -> Result<(), String> {
        let (out_w, out_h) = match *shape {
            [1, 3, h, w] if h > 0 && w > 0 && values.len() == (3 * h * w) as usize => {
                (w as usize, h as usize)
            }
            _ => {
                return Err(format!(
                    "the model returned an output of shape {}; expected [1,3,H,W]",
                    format_shape(shape)
                ));
            }
        };
        // The output covers the input tensor; scale the frame's part of it accordingly.
        let region = Size {
            width: input.content.width * out_w / input.tensor.width,
            height: input.content.height * out_h / input.tensor.height,
        };
        if region.width == 0 || region.height == 0 {
            return Err(format!(
                "the model's output {} is too small for a {}x{} frame",
                format_shape(shape),
                frame.width,
                frame.height
            ));
        }
        if region.width == frame.width && region.height == frame.height {
            self.decoder.decode(values, out_w, out_h, frame, strength);
            return Ok(());
        }
        self.region_rgb.resize(region.rgb_len(), 0);
        let mut region_image = ImageMut {
            data: &mut self.region_rgb,
            width: region.width,
            height: region.height,
            stride: region.width * 3,
            layout: PixelLayout::RGB,
        };
        self.decoder
            .decode(values, out_w, out_h, &mut region_image, 1.0);
        let frame_size = Size {
            width: frame.width,
            height: frame.height,
        };
        self.frame_rgb.resize(frame_size.rgb_len(), 0);
        self.resizer
            .resize(&self.region_rgb, region, &mut self.frame_rgb, frame_size)?;
        blend_rgb8(&self.frame_rgb, frame, strength);
        Ok(())
    }
}
