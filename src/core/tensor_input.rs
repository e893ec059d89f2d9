// SPDX-License-Identifier: MIT OR Apache-2.0
//! Builds the model's input tensor from a frame: at the frame size rounded up to the model's
//! size multiple for dynamic models, or resized to the model's size for fixed-size models.
//! Buffers are kept and reused while the frame size stays the same.

use super::convert::{ImageRef, InputEncoder, PixelLayout, padded_size, to_rgb8};
use super::model::{Dim, InputSpec, Preprocessing};
use super::resize::{RgbResizer, Size};

/// How the frame maps onto the tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Geometry {
    /// Tensor = frame padded up to a multiple; the frame sits in the top-left corner.
    Padded { multiple: usize },
    /// Tensor = the whole frame resized: to the model's size where it is fixed, to the frame
    /// size rounded up to `multiple` where it is dynamic.
    Resized {
        width: Dim,
        height: Dim,
        multiple: usize,
    },
}

/// Where the frame's content lies in the tensor that was last filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorLayout {
    /// The tensor's spatial size.
    pub tensor: Size,
    /// The part of the tensor (top-left) that holds the frame.
    pub content: Size,
}

pub struct TensorInput {
    encoder: InputEncoder,
    geometry: Geometry,
    tensor: Vec<f32>,
    /// Frame and model-size RGB copies for the resize path.
    frame_rgb: Vec<u8>,
    model_rgb: Vec<u8>,
    resizer: RgbResizer,
}

impl TensorInput {
    pub fn new(input: &InputSpec, pre: &Preprocessing) -> Self {
        let multiple = pre.size_multiple;
        let geometry = match (input.width, input.height) {
            (Dim::Dynamic, Dim::Dynamic) => Geometry::Padded { multiple },
            (width, height) => Geometry::Resized {
                width,
                height,
                multiple,
            },
        };
        Self {
            encoder: InputEncoder::new(pre),
            geometry,
            tensor: Vec::new(),
            frame_rgb: Vec::new(),
            model_rgb: Vec::new(),
            resizer: RgbResizer::default(),
        }
    }

    /// Fills the tensor from `frame` and says where the frame lies in it.
    pub fn fill(&mut self, frame: &ImageRef) -> Result<TensorLayout, String> {
        let frame_size = Size {
            width: frame.width,
            height: frame.height,
        };
        let layout = match self.geometry {
            Geometry::Padded { multiple } => {
                let (width, height) = padded_size(frame.width, frame.height, multiple);
                TensorLayout {
                    tensor: Size { width, height },
                    content: frame_size,
                }
            }
            Geometry::Resized {
                width,
                height,
                multiple,
            } => {
                let (padded_width, padded_height) =
                    padded_size(frame.width, frame.height, multiple);
                let size = Size {
                    width: fixed_or(width, padded_width),
                    height: fixed_or(height, padded_height),
                };
                TensorLayout {
                    tensor: size,
                    content: size,
                }
            }
        };
        let tensor_len = 3 * layout.tensor.width * layout.tensor.height;
        self.tensor.resize(tensor_len, 0.0);
        match self.geometry {
            Geometry::Padded { .. } => {
                self.encoder.encode(
                    frame,
                    &mut self.tensor,
                    layout.tensor.width,
                    layout.tensor.height,
                );
            }
            Geometry::Resized { .. } => {
                let size = layout.tensor;
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
                    .encode(&model_image, &mut self.tensor, size.width, size.height);
            }
        }
        Ok(layout)
    }

    /// The last filled tensor (planar 3 x H x W).
    pub fn tensor(&self) -> &[f32] {
        &self.tensor
    }
}

fn fixed_or(dim: Dim, dynamic: usize) -> usize {
    match dim {
        Dim::Fixed(n) => n,
        Dim::Dynamic => dynamic,
    }
}
