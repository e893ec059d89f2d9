// SPDX-License-Identifier: MIT OR Apache-2.0
//! The properties every element shares (model, execution provider, threads, pre-processing
//! overrides), as GObject properties and as the session configuration they make. Starting a
//! session from them is [`super::startup`]'s.

use std::path::PathBuf;

use gst::glib;
use gst::prelude::*;

use super::enums::{
    ChannelOrderSetting, ConvAlgoSearchSetting, ExecutionProvider, InferenceErrorPolicy,
    OptimizationLevel, RangeSetting,
};
use super::strings;
use crate::inference::Error;
use crate::inference::error::MAX_TENSOR_BYTES;
use crate::inference::gpu_options::GpuSettings;
use crate::inference::model::parse_triplet;
use crate::inference::remote::RemoteSettings;
use crate::inference::{PreprocessingOverrides, SessionConfig};

#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub model_file: Option<PathBuf>,
    pub execution_provider: ExecutionProvider,
    pub device_id: i32,
    pub threads: u32,
    pub optimization_level: OptimizationLevel,
    pub trt_engine_cache: Option<PathBuf>,
    pub trt_fp16: bool,
    pub cuda_conv_algo_search: ConvAlgoSearchSetting,
    pub gpu_mem_limit: u64,
    pub input_range: RangeSetting,
    pub output_range: RangeSetting,
    pub channel_order: ChannelOrderSetting,
    pub mean: Option<String>,
    pub std: Option<String>,
    pub size_multiple: u32,
    /// The most bytes one input or output tensor may take.
    pub max_tensor_bytes: u64,
    pub inference_scale: f64,
    pub non_blocking: bool,
    /// Non-blocking: frames wait for the first result instead of passing unprocessed.
    pub wait_first_result: bool,
    /// Read-only: the provider that runs the current session ("" when none runs).
    pub active_provider: String,
    /// `grpc://host:port` of a KServe v2 inference server (Triton) that runs the model.
    pub inference_server: Option<String>,
    /// The model's name on the server (None: the model file's stem).
    pub model_name: Option<String>,
    /// The model's version on the server (None: the server's choice).
    pub model_version: Option<String>,
    /// The longest a request to the server may take, in milliseconds.
    pub request_timeout_ms: u32,
    /// What a frame whose inference fails does to the stream.
    pub on_inference_error: InferenceErrorPolicy,
    /// Read-only: frames whose inference failed since the start; shared with the element's
    /// core, which counts them (clones of the settings share the one counter).
    pub failed_frames: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// The default of `request-timeout`: long enough for a server restart to be waited out.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u32 = 10_000;

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            model_file: None,
            execution_provider: ExecutionProvider::default(),
            device_id: 0,
            threads: 0,
            optimization_level: OptimizationLevel::default(),
            trt_engine_cache: default_cache_dir(),
            trt_fp16: true,
            cuda_conv_algo_search: ConvAlgoSearchSetting::default(),
            gpu_mem_limit: 0,
            input_range: RangeSetting::Model,
            output_range: RangeSetting::Model,
            channel_order: ChannelOrderSetting::Model,
            mean: None,
            std: None,
            size_multiple: 0,
            max_tensor_bytes: MAX_TENSOR_BYTES as u64,
            inference_scale: 1.0,
            non_blocking: false,
            wait_first_result: false,
            active_provider: String::new(),
            inference_server: None,
            model_name: None,
            model_version: None,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            on_inference_error: InferenceErrorPolicy::default(),
            failed_frames: Default::default(),
        }
    }
}

/// `$XDG_CACHE_HOME/gstautoencoder/tensorrt`, else `~/.cache/gstautoencoder/tensorrt`.
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("gstautoencoder").join("tensorrt"))
}

const ACTIVE_PROVIDER: &str = "active-provider";
const FAILED_FRAMES: &str = "failed-frames";

impl ModelSettings {
    pub fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecString::builder("model-file")
                .nick("Model file")
                .blurb("Path of the ONNX model to run")
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<ExecutionProvider>("execution-provider")
                .nick("Execution provider")
                .blurb(
                    "ONNX Runtime execution provider; a provider named explicitly that cannot \
                     run is an error, 'auto' reports which one runs (see active-provider)",
                )
                .mutable_ready()
                .build(),
            glib::ParamSpecInt::builder("device-id")
                .nick("Device ID")
                .blurb("GPU index for the CUDA and TensorRT providers")
                .minimum(0)
                .maximum(i32::MAX)
                .default_value(0)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("threads")
                .nick("Threads")
                .blurb("Intra-op threads for the CPU provider (0 = ONNX Runtime's default)")
                .maximum(1024)
                .default_value(0)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<OptimizationLevel>("optimization-level")
                .nick("Optimization level")
                .blurb("ONNX Runtime graph optimization level")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("trt-engine-cache")
                .nick("TensorRT engine cache")
                .blurb(
                    "Folder where TensorRT keeps built engines (per model, GPU, library \
                     version and precision) and its timing cache, so that a second start skips \
                     the engine build (empty: no cache)",
                )
                .default_value(default_cache_dir().and_then(|p| p.to_str().map(str::to_owned)).as_deref())
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("trt-fp16")
                .nick("TensorRT fp16")
                .blurb("Let TensorRT build fp16 kernels where the GPU has them (faster; outputs within the documented tolerance)")
                .default_value(true)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<ConvAlgoSearchSetting>("cuda-conv-algo-search")
                .nick("cuDNN convolution algorithm search")
                .blurb("How the CUDA provider picks cuDNN convolution algorithms")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("gpu-mem-limit")
                .nick("GPU memory limit")
                .blurb("Limit of the CUDA provider's memory arena in MiB (0 = no limit)")
                .maximum(1 << 24)
                .default_value(0)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<RangeSetting>("input-range")
                .nick("Input range")
                .blurb("Value range of the input tensor before mean/std (overrides the model's 'input_range')")
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<RangeSetting>("output-range")
                .nick("Output range")
                .blurb("Value range of an image output (overrides 'output_range'; default: the input range)")
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<ChannelOrderSetting>("channel-order")
                .nick("Channel order")
                .blurb("Colour channel order of the tensors (overrides the model's 'channel_order')")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("mean")
                .nick("Mean")
                .blurb("Per-colour mean 'R,G,B' in input-range units, in R,G,B order whatever channel-order says, subtracted before dividing by std (overrides 'mean'; empty: the model's)")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("std")
                .nick("Standard deviation")
                .blurb("Per-colour standard deviation 'R,G,B' in input-range units, in R,G,B order whatever channel-order says (overrides 'std'; empty: the model's)")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("size-multiple")
                .nick("Size multiple")
                .blurb("Dynamic-size models run at the frame size rounded up to this multiple (0: the model's 'size_multiple', else 1)")
                .maximum(4096)
                .default_value(0)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("max-tensor-bytes")
                .nick("Largest tensor")
                .blurb(
                    "The most bytes one input or output tensor may take; a model or setting \
                     that asks for more is refused before anything is allocated",
                )
                .minimum(1 << 20)
                .default_value(MAX_TENSOR_BYTES as u64)
                .mutable_ready()
                .build(),
            glib::ParamSpecDouble::builder("inference-scale")
                .nick("Inference scale")
                .blurb(
                    "Run a dynamic-size model on the frame shrunk by this factor and map the \
                     result back to the frame (bilinear for images and scores, nearest for \
                     class ids); 1 = full resolution",
                )
                .minimum(0.05)
                .maximum(1.0)
                .default_value(1.0)
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("non-blocking")
                .nick("Non-blocking")
                .blurb(
                    "Run inference on a thread of its own: frames flow at the source rate and \
                     each is drawn with the newest finished result (frames before the first \
                     result pass unchanged); false = each frame waits for its own result",
                )
                .default_value(false)
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("wait-first-result")
                .nick("Wait for the first result")
                .blurb(
                    "Non-blocking mode: the first frames wait for the first result instead of \
                     passing unprocessed, so that a recording starts processed",
                )
                .default_value(false)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("inference-server")
                .nick("Inference server")
                .blurb(
                    "Run the model on a KServe v2 inference server (NVIDIA Triton), e.g. \
                     grpc://127.0.0.1:8001, instead of in this process: the element sends the \
                     input tensor and does its own pre- and post-processing (empty: run locally)",
                )
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("model-name")
                .nick("Model name")
                .blurb(
                    "The model's name on the inference server (empty: the model file's name \
                     without its extension)",
                )
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("model-version")
                .nick("Model version")
                .blurb("The model's version on the inference server (empty: the server's choice)")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("request-timeout")
                .nick("Request timeout")
                .blurb(
                    "The longest, in ms, a request to the inference server may take (and \
                     connecting at start); a server that went away is reconnected to within it",
                )
                .minimum(10)
                .maximum(600_000)
                .default_value(DEFAULT_REQUEST_TIMEOUT_MS)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<InferenceErrorPolicy>("on-inference-error")
                .nick("On inference error")
                .blurb(
                    "What a frame whose inference fails (a server that went away or timed \
                     out, a failed run) does: 'error' stops the stream with an element error; \
                     'pass' lets the frame go on without the model's result, counts it \
                     (failed-frames), posts a warning and an 'autoencoder-inference-failed' \
                     message when failures start and when inference works again",
                )
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt64::builder(FAILED_FRAMES)
                .nick("Failed frames")
                .blurb(
                    "Frames (in non-blocking mode: inferences) whose inference failed since \
                     the element started",
                )
                .read_only()
                .build(),
            glib::ParamSpecString::builder(ACTIVE_PROVIDER)
                .nick("Active provider")
                .blurb("The execution provider that actually runs the model (empty until started)")
                .read_only()
                .build(),
        ]
    }

    /// Sets property `name` of element `element` (named in a warning when a text property
    /// gets bytes that are not UTF-8: the previous value stays).
    pub fn set(&mut self, name: &str, value: &glib::Value, element: &str) {
        let text = |v: &glib::Value, previous: &Option<String>| {
            strings::text_of(v).unwrap_or_else(|()| {
                strings::warn_not_text(element, name);
                previous.clone()
            })
        };
        match name {
            "model-file" => self.model_file = strings::path_of(value),
            "execution-provider" => {
                self.execution_provider = value.get().expect("type checked upstream")
            }
            "device-id" => self.device_id = value.get().expect("type checked upstream"),
            "threads" => self.threads = value.get().expect("type checked upstream"),
            "optimization-level" => {
                self.optimization_level = value.get().expect("type checked upstream")
            }
            "trt-engine-cache" => self.trt_engine_cache = strings::path_of(value),
            "trt-fp16" => self.trt_fp16 = value.get().expect("type checked upstream"),
            "cuda-conv-algo-search" => {
                self.cuda_conv_algo_search = value.get().expect("type checked upstream")
            }
            "gpu-mem-limit" => self.gpu_mem_limit = value.get().expect("type checked upstream"),
            "input-range" => self.input_range = value.get().expect("type checked upstream"),
            "output-range" => self.output_range = value.get().expect("type checked upstream"),
            "channel-order" => self.channel_order = value.get().expect("type checked upstream"),
            "mean" => self.mean = text(value, &self.mean),
            "std" => self.std = text(value, &self.std),
            "size-multiple" => self.size_multiple = value.get().expect("type checked upstream"),
            "max-tensor-bytes" => {
                self.max_tensor_bytes = value.get().expect("type checked upstream")
            }
            "inference-scale" => self.inference_scale = value.get().expect("type checked upstream"),
            "non-blocking" => self.non_blocking = value.get().expect("type checked upstream"),
            "wait-first-result" => {
                self.wait_first_result = value.get().expect("type checked upstream")
            }
            "inference-server" => {
                self.inference_server =
                    text(value, &self.inference_server).filter(|s| !s.is_empty())
            }
            "model-name" => {
                self.model_name = text(value, &self.model_name).filter(|s| !s.is_empty())
            }
            "model-version" => {
                self.model_version = text(value, &self.model_version).filter(|s| !s.is_empty())
            }
            "request-timeout" => {
                self.request_timeout_ms = value.get().expect("type checked upstream")
            }
            "on-inference-error" => {
                self.on_inference_error = value.get().expect("type checked upstream")
            }
            _ => unimplemented!("not a model property: {name}"),
        }
    }

    pub fn get(&self, name: &str) -> glib::Value {
        match name {
            "model-file" => strings::path_value(self.model_file.as_deref()),
            "execution-provider" => self.execution_provider.to_value(),
            "device-id" => self.device_id.to_value(),
            "threads" => self.threads.to_value(),
            "optimization-level" => self.optimization_level.to_value(),
            "trt-engine-cache" => strings::path_value(self.trt_engine_cache.as_deref()),
            "trt-fp16" => self.trt_fp16.to_value(),
            "cuda-conv-algo-search" => self.cuda_conv_algo_search.to_value(),
            "gpu-mem-limit" => self.gpu_mem_limit.to_value(),
            "input-range" => self.input_range.to_value(),
            "output-range" => self.output_range.to_value(),
            "channel-order" => self.channel_order.to_value(),
            "mean" => self.mean.to_value(),
            "std" => self.std.to_value(),
            "size-multiple" => self.size_multiple.to_value(),
            "max-tensor-bytes" => self.max_tensor_bytes.to_value(),
            "inference-scale" => self.inference_scale.to_value(),
            "non-blocking" => self.non_blocking.to_value(),
            "wait-first-result" => self.wait_first_result.to_value(),
            "inference-server" => self.inference_server.to_value(),
            "model-name" => self.model_name.to_value(),
            "model-version" => self.model_version.to_value(),
            "request-timeout" => self.request_timeout_ms.to_value(),
            "on-inference-error" => self.on_inference_error.to_value(),
            FAILED_FRAMES => self
                .failed_frames
                .load(std::sync::atomic::Ordering::Relaxed)
                .to_value(),
            ACTIVE_PROVIDER => self.active_provider.to_value(),
            _ => unimplemented!("not a model property: {name}"),
        }
    }

    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            provider: self.execution_provider.into(),
            threads: self.threads as usize,
            optimization: self.optimization_level.into(),
            intra_op_spinning: false,
            gpu: GpuSettings {
                device_id: self.device_id,
                trt_fp16: self.trt_fp16,
                engine_cache: self.trt_engine_cache.clone(),
                conv_algo_search: self.cuda_conv_algo_search.into(),
                memory_limit_mib: self.gpu_mem_limit,
            },
            profile: None,
            max_tensor_bytes: usize::try_from(self.max_tensor_bytes).unwrap_or(usize::MAX),
        }
    }

    /// The model as messages name it: its file (a bare model name as the model search path
    /// resolves it), or `grpc://host:port/name` on a server.
    pub fn model_path(&self) -> std::path::PathBuf {
        match self.remote() {
            Ok(Some(remote)) => format!("{}/{}", remote.server, remote.model).into(),
            _ => {
                let file = self.model_file.clone().unwrap_or_default();
                match crate::inference::model_search::resolve(&file) {
                    Ok(found) => found.into_owned(),
                    Err(_) => file,
                }
            }
        }
    }

    /// Where the model runs remotely, when `inference-server` is set: the server, the model's
    /// name there (else the model file's stem) and version, and the request timeout.
    pub fn remote(&self) -> Result<Option<RemoteSettings>, Error> {
        let Some(server) = &self.inference_server else {
            return Ok(None);
        };
        let model = match (&self.model_name, &self.model_file) {
            (Some(name), _) => name.clone(),
            (None, Some(file)) => file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            (None, None) => String::new(),
        };
        if model.is_empty() {
            return Err(Error::settings(format!(
                "inference-server is {server}, but no model is named: set model-name (the \
                 model's name on the server)"
            )));
        }
        Ok(Some(RemoteSettings {
            server: server.clone(),
            model,
            version: self.model_version.clone().unwrap_or_default(),
            timeout: std::time::Duration::from_millis(u64::from(self.request_timeout_ms)),
        }))
    }

    /// The pre-processing overrides the properties give; a malformed mean/std names the property.
    pub fn overrides(&self) -> Result<PreprocessingOverrides, Error> {
        let triplet = |prop: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| parse_triplet(prop, s))
                .transpose()
                .map_err(|e| Error::settings(format!("property {e}")))
        };
        let std = triplet("std", &self.std)?;
        if let Some(std) = std
            && let Some(bad) = std.iter().find(|s| **s <= 0.0)
        {
            return Err(Error::settings(format!(
                "property 'std' must be three positive numbers; found {bad} in {std:?}"
            )));
        }
        Ok(PreprocessingOverrides {
            input_range: self.input_range.value_range(),
            output_range: self.output_range.value_range(),
            mean: triplet("mean", &self.mean)?,
            std,
            channel_order: self.channel_order.channel_order(),
            size_multiple: (self.size_multiple > 0).then_some(self.size_multiple as usize),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::gpu_options::ConvAlgoSearch;

    #[test]
    fn gpu_properties_reach_the_session_config() {
        let defaults = ModelSettings::default().session_config();
        assert!(defaults.gpu.trt_fp16, "fp16 is on by default");
        assert_eq!(defaults.gpu.conv_algo_search, ConvAlgoSearch::Exhaustive);
        assert_eq!(defaults.gpu.memory_limit_mib, 0);
        assert!(
            defaults
                .gpu
                .engine_cache
                .as_ref()
                .is_some_and(|p| p.ends_with("gstautoencoder/tensorrt")),
            "{defaults:?}"
        );
        let settings = ModelSettings {
            device_id: 2,
            trt_fp16: false,
            trt_engine_cache: Some("/cache".into()),
            cuda_conv_algo_search: ConvAlgoSearchSetting::Heuristic,
            gpu_mem_limit: 512,
            ..Default::default()
        };
        let config = settings.session_config();
        assert_eq!(
            config.gpu,
            GpuSettings {
                device_id: 2,
                trt_fp16: false,
                engine_cache: Some("/cache".into()),
                conv_algo_search: ConvAlgoSearch::Heuristic,
                memory_limit_mib: 512,
            }
        );
        assert_eq!(config.profile, None, "the profile comes from the caps");
    }
}
