// SPDX-License-Identifier: MIT OR Apache-2.0
//! The inference core every element shares: the ONNX Runtime library and session, execution
//! providers, the model description and its pre-processing, and frame <-> tensor conversion.
//! No GStreamer element code lives here, so it can be tested and benchmarked on its own.

pub mod anomaly;
pub mod background;
pub mod convert;
pub mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod gpu;
pub mod gpu_options;
pub mod image_output;
pub mod map;
pub mod model;
pub mod model_search;
pub mod probe;
pub mod providers;
pub mod remote;
pub mod resize;
pub mod runner;
pub mod runtime;
pub mod score_map;
pub mod segmentation;
pub mod session;
pub mod superres;
pub mod tensor_input;

pub use convert::{ImageMut, ImageRef, PixelLayout};
pub use error::{Error, ErrorKind};
pub use image_output::{DecodedImage, ImageOutput, decode_image};
pub use model::{
    ChannelOrder, ModelDescription, Preprocessing, PreprocessingOverrides, ValueRange,
};
pub use providers::{Provider, ProviderChoice};
pub use runner::{Latest, NonFinite, Runner, Task};
pub use session::{InferenceSession, Optimization, RunOutput, SessionConfig};
pub use tensor_input::{TensorInput, TensorLayout};
