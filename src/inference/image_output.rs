// SPDX-License-Identifier: MIT OR Apache-2.0
//! An image output `[1,3,h,w]` back into the frame, in two steps so that the first can run on an
//! inference thread: [`decode_image`] keeps the part of the output that covers the frame
//! (padding dropped); [`ImageOutput::draw`] turns it into pixel levels straight in the frame
//! when the sizes agree, else resizes it to the frame (fixed-size models, inference scale, a
//! frame size that changed since), blended with the original by `strength`.

use super::convert::{ImageMut, OutputDecoder, PixelLayout, blend_rgb8};
use super::error::Error;
use super::model::{Preprocessing, format_shape};
use super::resize::{Resizer, Size};
use super::tensor_input::TensorLayout;

/// The frame's part of an image output: planar values, channels x height x width.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedImage {
    /// `channels * size.height * size.width` values in the model's output range and channel
    /// order, plane after plane, each row-major.
    pub values: Vec<f32>,
    /// Its planes: 3 (colour), or 1 (luma).
    pub channels: usize,
    /// Width and height of each plane.
    pub size: Size,
}

impl Default for DecodedImage {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            channels: 3,
            size: Size {
                width: 0,
                height: 0,
            },
        }
    }
}

/// Keeps the frame's part of the output `values` of `shape`, an image of `channels` (3, or 1
/// for luma), in `out`; `input` is where the frame lay in the input tensor.
pub fn decode_image(
    shape: &[i64],
    values: &[f32],
    channels: usize,
    input: TensorLayout,
    out: &mut DecodedImage,
) -> Result<(), Error> {
    let (out_w, out_h) = match *shape {
        [1, c, h, w]
            if c == channels as i64
                && h > 0
                && w > 0
                && values.len() as u128 == c as u128 * h as u128 * w as u128 =>
        {
            (w as usize, h as usize)
        }
        _ => {
            return Err(Error::inference(format!(
                "the model returned an output of shape {}; expected [1,{channels},H,W]",
                format_shape(shape)
            )));
        }
    };
    // The output covers the input tensor; scale the frame's part of it accordingly.
    let region = Size {
        width: input.content.width * out_w / input.tensor.width,
        height: input.content.height * out_h / input.tensor.height,
    };
    if region.width == 0 || region.height == 0 {
        return Err(Error::inference(format!(
            "the model's output {} is too small for a {}x{} input",
            format_shape(shape),
            input.content.width,
            input.content.height
        )));
    }
    out.size = region;
    out.channels = channels;
    out.values.clear();
    for plane in values.chunks_exact(out_w * out_h) {
        for row in plane.chunks_exact(out_w).take(region.height) {
            out.values.extend_from_slice(&row[..region.width]);
        }
    }
    Ok(())
}

/// Draws decoded images into frames, keeping its buffers between frames.
pub struct ImageOutput {
    decoder: OutputDecoder,
    region_rgb: Vec<u8>,
    frame_rgb: Vec<u8>,
    resizer: Resizer,
}

impl ImageOutput {
    /// An output for a model pre-processed by `pre` (its output range and channel order).
    pub fn new(pre: &Preprocessing) -> Self {
        Self {
            decoder: OutputDecoder::new(pre),
            region_rgb: Vec::new(),
            frame_rgb: Vec::new(),
            resizer: Resizer::default(),
        }
    }

    /// Writes `image` over `frame`, resized to it if needed, blended by `strength` (0..=1: 0
    /// keeps the frame, 1 writes the image alone).
    pub fn draw(
        &mut self,
        image: &DecodedImage,
        frame: &mut ImageMut,
        strength: f32,
    ) -> Result<(), Error> {
        let Size { width, height } = image.size;
        if (width, height) == (frame.width, frame.height) {
            self.decoder
                .decode(&image.values, width, height, frame, strength);
            return Ok(());
        }
        self.region_rgb.resize(image.size.rgb_len(), 0);
        let mut region = ImageMut {
            data: &mut self.region_rgb,
            width,
            height,
            stride: width * 3,
            layout: PixelLayout::RGB,
        };
        self.decoder
            .decode(&image.values, width, height, &mut region, 1.0);
        let frame_size = Size {
            width: frame.width,
            height: frame.height,
        };
        self.frame_rgb.resize(frame_size.rgb_len(), 0);
        self.resizer.resize(
            &self.region_rgb,
            image.size,
            &mut self.frame_rgb,
            frame_size,
        )?;
        blend_rgb8(&self.frame_rgb, frame, strength);
        Ok(())
    }
}
