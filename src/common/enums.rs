// SPDX-License-Identifier: MIT OR Apache-2.0
//! The glib enums behind the properties all elements share, and their mapping to the core's
//! plain Rust types.

use gst::glib;

use crate::inference::gpu_options::ConvAlgoSearch;
use crate::inference::{ChannelOrder, Optimization, ProviderChoice, ValueRange};

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderExecutionProvider")]
/// The `execution-provider` property: where the model runs.
pub enum ExecutionProvider {
    /// TensorRT, then CUDA, then the CPU: the first that starts.
    #[default]
    #[enum_value(
        name = "Auto: TensorRT, then CUDA, then CPU (the first that runs)",
        nick = "auto"
    )]
    Auto,
    /// The CPU only.
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu,
    /// CUDA on an NVIDIA GPU; an error when it cannot start.
    #[enum_value(name = "CUDA (NVIDIA GPU)", nick = "cuda")]
    Cuda,
    /// TensorRT on an NVIDIA GPU; an error when it cannot start.
    #[enum_value(name = "TensorRT (NVIDIA GPU)", nick = "tensorrt")]
    TensorRt,
}

impl From<ExecutionProvider> for ProviderChoice {
    fn from(p: ExecutionProvider) -> Self {
        match p {
            ExecutionProvider::Auto => ProviderChoice::Auto,
            ExecutionProvider::Cpu => ProviderChoice::Cpu,
            ExecutionProvider::Cuda => ProviderChoice::Cuda,
            ExecutionProvider::TensorRt => ProviderChoice::TensorRt,
        }
    }
}

/// cuDNN's convolution algorithm search, with ONNX Runtime's names.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderConvAlgoSearch")]
pub enum ConvAlgoSearchSetting {
    /// Time every algorithm on the first run: the fastest steady state.
    #[default]
    #[enum_value(
        name = "Exhaustive: time every algorithm on the first frame (fastest after)",
        nick = "exhaustive"
    )]
    Exhaustive,
    /// cuDNN's heuristics: a fast first frame.
    #[enum_value(
        name = "Heuristic: cuDNN's guess (fast first frame)",
        nick = "heuristic"
    )]
    Heuristic,
    /// cuDNN's default, implicit GEMM: the least memory.
    #[enum_value(name = "Default: implicit GEMM (least memory)", nick = "default")]
    ImplicitGemm,
}

impl From<ConvAlgoSearchSetting> for ConvAlgoSearch {
    fn from(s: ConvAlgoSearchSetting) -> Self {
        match s {
            ConvAlgoSearchSetting::Exhaustive => ConvAlgoSearch::Exhaustive,
            ConvAlgoSearchSetting::Heuristic => ConvAlgoSearch::Heuristic,
            ConvAlgoSearchSetting::ImplicitGemm => ConvAlgoSearch::ImplicitGemm,
        }
    }
}

/// Graph optimisation level, with the names of GStreamer's onnxinference.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderOptimizationLevel")]
pub enum OptimizationLevel {
    /// No graph optimisation.
    #[enum_value(name = "Disable all optimizations", nick = "disable-all")]
    DisableAll,
    /// Constant folding and redundant node removal.
    #[enum_value(
        name = "Basic: constant folding, redundant node removal",
        nick = "enable-basic"
    )]
    Basic,
    /// Basic, and node fusions.
    #[enum_value(name = "Extended: also node fusions", nick = "enable-extended")]
    Extended,
    /// Extended, and layout optimisations (the default).
    #[default]
    #[enum_value(name = "All: also layout optimizations", nick = "enable-all")]
    All,
}

impl From<OptimizationLevel> for Optimization {
    fn from(o: OptimizationLevel) -> Self {
        match o {
            OptimizationLevel::DisableAll => Optimization::DisableAll,
            OptimizationLevel::Basic => Optimization::Basic,
            OptimizationLevel::Extended => Optimization::Extended,
            OptimizationLevel::All => Optimization::All,
        }
    }
}

/// A value range, or "as the model's metadata says".
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderValueRange")]
pub enum RangeSetting {
    /// As the model's metadata says (0..1 when it says nothing).
    #[default]
    #[enum_value(name = "From the model's metadata (0-1 when absent)", nick = "model")]
    Model,
    /// 0.0 ..= 1.0.
    #[enum_value(name = "0.0 to 1.0", nick = "0-1")]
    Unit,
    /// 0.0 ..= 255.0.
    #[enum_value(name = "0 to 255", nick = "0-255")]
    Byte,
}

impl RangeSetting {
    /// The range this setting imposes (None: the model's metadata decides).
    pub fn value_range(self) -> Option<ValueRange> {
        match self {
            RangeSetting::Model => None,
            RangeSetting::Unit => Some(ValueRange::Unit),
            RangeSetting::Byte => Some(ValueRange::Byte),
        }
    }
}

/// A channel order, or "as the model's metadata says".
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderChannelOrder")]
pub enum ChannelOrderSetting {
    /// As the model's metadata says (RGB when it says nothing).
    #[default]
    #[enum_value(name = "From the model's metadata (rgb when absent)", nick = "model")]
    Model,
    /// Tensor channels R, G, B.
    #[enum_value(name = "RGB", nick = "rgb")]
    Rgb,
    /// Tensor channels B, G, R.
    #[enum_value(name = "BGR", nick = "bgr")]
    Bgr,
}

impl ChannelOrderSetting {
    /// The channel order this setting imposes (None: the model's metadata decides).
    pub fn channel_order(self) -> Option<ChannelOrder> {
        match self {
            ChannelOrderSetting::Model => None,
            ChannelOrderSetting::Rgb => Some(ChannelOrder::Rgb),
            ChannelOrderSetting::Bgr => Some(ChannelOrder::Bgr),
        }
    }
}

/// The `on-inference-error` property: what a frame whose inference fails does to the stream.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderInferenceErrorPolicy")]
pub enum InferenceErrorPolicy {
    /// An element error that stops the stream.
    #[default]
    #[enum_value(
        name = "Error: post an element error and stop the stream",
        nick = "error"
    )]
    Error,
    /// The frame goes on without the model's result; the stream goes on.
    #[enum_value(
        name = "Pass: the frame goes on without the model's result (counted in failed-frames, \
                reported on the bus) and the stream goes on",
        nick = "pass"
    )]
    Pass,
}

/// Documents the enums once for the whole plugin (gst-inspect and the docs cache).
pub fn mark_as_plugin_api() {
    for t in [
        ExecutionProvider::static_type(),
        OptimizationLevel::static_type(),
        RangeSetting::static_type(),
        ChannelOrderSetting::static_type(),
        ConvAlgoSearchSetting::static_type(),
        InferenceErrorPolicy::static_type(),
    ] {
        t.mark_as_plugin_api(gst::PluginAPIFlags::empty());
    }
}

use gst::prelude::*;
