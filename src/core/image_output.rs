// SPDX-License-Identifier: MIT OR Apache-2.0
//! An image output [1,3,h,w] back into the frame, in two steps so that the first can run on an
//! inference thread: [`decode_image`] takes the part of the output that covers the frame
//! (padding dropped) as RGB; [`ImageOutput::draw`] resizes it to the frame when the sizes differ
//! (fixed-size models, inference scale, a frame size that changed since) and blends it with the
//! original by `strength`.

use super::convert::{ImageMut, OutputDecoder, PixelLayout, blend_rgb8};
use super::model::format_shape;
use super::resize::{RgbResizer, Size};
use super::tensor_input::TensorLayout;

/// The frame's part of an image output, as tightly packed RGB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedImage {
    pub rgb: Vec<u8>,
    pub size: Size,
}

impl Default for DecodedImage {
    fn default() -> Self {
        Self {
            rgb: Vec::new(),
            size: Size {
                width: 0,
                height: 0,
            },
        }
    }
}

/// Decodes the output `values` of `shape` into `out`; `input` is where the frame lay in the
/// input tensor.
pub fn decode_image(
    decoder: &OutputDecoder,
    shape: &[i64],
    values: &[f32],
    input: TensorLayout,
    out: &mut DecodedImage,
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
            "the model's output {} is too small for a {}x{} input",
            format_shape(shape),
            input.content.width,
            input.content.height
        ));
    }
    out.size = region;
    out.rgb.resize(region.rgb_len(), 0);
    let mut image = ImageMut {
        data: &mut out.rgb,
        width: region.width,
        height: region.height,
        stride: region.width * 3,
        layout: PixelLayout::RGB,
    };
    decoder.decode(values, out_w, out_h, &mut image, 1.0);
    Ok(())
}

/// Draws decoded images into frames, keeping its resize buffers between frames.
#[derive(Default)]
pub struct ImageOutput {
    frame_rgb: Vec<u8>,
    resizer: RgbResizer,
}

impl ImageOutput {
    /// Writes `image` over `frame`, resized to it if needed, blended by `strength`.
    pub fn draw(
        &mut self,
        image: &DecodedImage,
        frame: &mut ImageMut,
        strength: f32,
    ) -> Result<(), String> {
        let frame_size = Size {
            width: frame.width,
            height: frame.height,
        };
        if image.size == frame_size {
            blend_rgb8(&image.rgb, frame, strength);
            return Ok(());
        }
        self.frame_rgb.resize(frame_size.rgb_len(), 0);
        self.resizer
            .resize(&image.rgb, image.size, &mut self.frame_rgb, frame_size)?;
        blend_rgb8(&self.frame_rgb, frame, strength);
        Ok(())
    }
}
