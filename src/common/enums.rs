// SPDX-License-Identifier: MIT OR Apache-2.0
//! The glib enums behind the properties all elements share, and their mapping to the core's
//! plain Rust types.

use gst::glib;

use crate::inference::gpu_options::ConvAlgoSearch;
use crate::inference::{ChannelOrder, Optimization, ProviderChoice, ValueRange};

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAutoencoderExecutionProvider")]
pub enum ExecutionProvider {
    #[default]
    #[enum_value(
        name = "Auto: TensorRT, then CUDA, then CPU (the first that runs)",
        nick = "auto"
    )]
    Auto,
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu,
    #[enum_value(name = "CUDA (NVIDIA GPU)", nick = "cuda")]
    Cuda,
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
    #[default]
    #[enum_value(
        name = "Exhaustive: time every algorithm on the first frame (fastest after)",
        nick = "exhaustive"
    )]
    Exhaustive,
    #[enum_value(
        name = "Heuristic: cuDNN's guess (fast first frame)",
        nick = "heuristic"
    )]
    Heuristic,
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
    #[enum_value(name = "Disable all optimizations", nick = "disable-all")]
    DisableAll,
    #[enum_value(
        name = "Basic: constant folding, redundant node removal",
        nick = "enable-basic"
    )]
    Basic,
    #[enum_value(name = "Extended: also node fusions", nick = "enable-extended")]
    Extended,
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
    #[default]
    #[enum_value(name = "From the model's metadata (0-1 when absent)", nick = "model")]
    Model,
    #[enum_value(name = "0.0 to 1.0", nick = "0-1")]
    Unit,
    #[enum_value(name = "0 to 255", nick = "0-255")]
    Byte,
}

impl RangeSetting {
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
    #[default]
    #[enum_value(name = "From the model's metadata (rgb when absent)", nick = "model")]
    Model,
    #[enum_value(name = "RGB", nick = "rgb")]
    Rgb,
    #[enum_value(name = "BGR", nick = "bgr")]
    Bgr,
}

impl ChannelOrderSetting {
    pub fn channel_order(self) -> Option<ChannelOrder> {
        match self {
            ChannelOrderSetting::Model => None,
            ChannelOrderSetting::Rgb => Some(ChannelOrder::Rgb),
            ChannelOrderSetting::Bgr => Some(ChannelOrder::Bgr),
        }
    }
}

/// Documents the enums once for the whole plugin (gst-inspect and the docs cache).
pub fn mark_as_plugin_api() {
    for t in [
        ExecutionProvider::static_type(),
        OptimizationLevel::static_type(),
        RangeSetting::static_type(),
        ChannelOrderSetting::static_type(),
    ] {
        t.mark_as_plugin_api(gst::PluginAPIFlags::empty());
    }
}

use gst::prelude::*;
