// SPDX-License-Identifier: MIT OR Apache-2.0
//! Builds the model's input tensor from a frame: at the frame size rounded up to the model's
//! size multiple for dynamic models, or resized to the model's size for fixed-size models, or
//! resized by the inference scale (run the model on a smaller picture, map the result back).
//! Buffers are kept and reused while the frame size stays the same.

use super::convert::{ImageRef, InputEncoder, PixelLayout, padded_size, to_rgb8};
use super::error::Error;
use super::model::{Dim, InputSpec, Preprocessing};
use super::resize::{Resizer, Size};

/// How the frame maps onto the tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Geometry {
    /// Tensor = frame padded up to a multiple; the frame sits in the top-left corner.
    Padded { multiple: usize },
    /// Tensor = the whole frame resized: to the model's size where it is fixed, to the frame
    /// size times `scale` rounded up to `multiple` where it is dynamic.
    Resized {
        width: Dim,
        height: Dim,
        multiple: usize,
        scale: f64,
    },
}

/// Where the frame's content lies in the tensor that was last filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorLayout {
    /// The tensor's channels (3, or 1 for luma).
    pub channels: usize,
    /// The tensor's spatial size.
    pub tensor: Size,
    /// The part of the tensor (top-left) that holds the frame.
    pub content: Size,
}

/// Fills the model's input tensor `[1,C,H,W]` (C: 3, or 1 for luma) from frames, as the model's input size and
/// pre-processing say, keeping its buffers between frames of the same size.
pub struct TensorInput {
    encoder: InputEncoder,
    geometry: Geometry,
    /// Frame and model-size RGB copies for the resize path.
    frame_rgb: Vec<u8>,
    model_rgb: Vec<u8>,
    resizer: Resizer,
}

impl TensorInput {
    /// `scale` (0 < scale <= 1) shrinks the frame before a dynamic-size model sees it.
    pub fn new(input: &InputSpec, pre: &Preprocessing, scale: f64) -> Self {
        let multiple = pre.size_multiple;
        let geometry = match (input.width, input.height) {
            (Dim::Dynamic, Dim::Dynamic) if scale >= 1.0 => Geometry::Padded { multiple },
            (width, height) => Geometry::Resized {
                width,
                height,
                multiple,
                scale: scale.clamp(f64::MIN_POSITIVE, 1.0),
            },
        };
        Self {
            encoder: InputEncoder::new(pre, input.channels),
            geometry,
            frame_rgb: Vec::new(),
            model_rgb: Vec::new(),
            resizer: Resizer::default(),
        }
    }

    /// Where a `width` x `height` frame will lie in the tensor (and the tensor's size).
    pub fn layout(&self, width: usize, height: usize) -> TensorLayout {
        let frame_size = Size { width, height };
        match self.geometry {
            Geometry::Padded { multiple } => {
                let (width, height) = padded_size(width, height, multiple);
                TensorLayout {
                    channels: self.channels(),
                    tensor: Size { width, height },
                    content: frame_size,
                }
            }
            Geometry::Resized {
                width: model_width,
                height: model_height,
                multiple,
                scale,
            } => {
                let scaled = |n: usize| ((n as f64 * scale).round() as usize).max(1);
                let (padded_width, padded_height) =
                    padded_size(scaled(width), scaled(height), multiple);
                let size = Size {
                    width: fixed_or(model_width, padded_width),
                    height: fixed_or(model_height, padded_height),
                };
                TensorLayout {
                    channels: self.channels(),
                    tensor: size,
                    content: size,
                }
            }
        }
    }

    /// The input tensor's channels (3, or 1 for luma).
    pub fn channels(&self) -> usize {
        self.encoder.channels()
    }

    /// Fills `tensor` (planar C x H x W for the tensor size of `layout`) from `frame`.
    pub fn fill(
        &mut self,
        frame: &ImageRef,
        layout: TensorLayout,
        tensor: &mut [f32],
    ) -> Result<(), Error> {
        let size = layout.tensor;
        let needed = self.channels() * size.width * size.height;
        if tensor.len() != needed {
            return Err(Error::inference(format!(
                "the input tensor holds {} values; a {}x{} tensor needs {needed}",
                tensor.len(),
                size.width,
                size.height,
            )));
        }
        match self.geometry {
            Geometry::Padded { .. } => {
                self.encoder.encode(frame, tensor, size.width, size.height);
            }
            Geometry::Resized { .. } => {
                let frame_size = Size {
                    width: frame.width,
                    height: frame.height,
                };
                self.frame_rgb.resize(frame_size.rgb_len(), 0);
                self.model_rgb.resize(size.rgb_len(), 0);
                to_rgb8(frame, &mut self.frame_rgb);
                self.resizer
                    .resize(&self.frame_rgb, frame_size, &mut self.model_rgb, size)?;
                let model_image = ImageRef {
                    data: &self.model_rgb,
                    width: size.width,
                    height: size.height,
                    stride: size.width * 3,
                    layout: PixelLayout::RGB,
                };
                self.encoder
                    .encode(&model_image, tensor, size.width, size.height);
            }
        }
        Ok(())
    }
}

fn fixed_or(dim: Dim, dynamic: usize) -> usize {
    match dim {
        Dim::Fixed(n) => n,
        Dim::Dynamic => dynamic,
    }
}
