// SPDX-License-Identifier: MIT OR Apache-2.0
//! An ONNX Runtime session on one execution provider: choosing the provider (never falling back
//! silently), validating the model's tensors, and running it on a preallocated input.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ort::ep;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::model::{InputSpec, ModelDescription, OutputSpec};
use super::runtime;

/// The provider the user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderChoice {
    /// TensorRT, then CUDA, then CPU: the first that works, reported.
    #[default]
    Auto,
    Cpu,
    Cuda,
    TensorRt,
}

/// A provider that actually runs a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Cpu,
    Cuda,
    TensorRt,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Graph optimisation, named as GStreamer's onnxinference names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Optimization {
    DisableAll,
    Basic,
    Extended,
    #[default]
    All,
}

impl From<Optimization> for GraphOptimizationLevel {
    fn from(o: Optimization) -> Self {
        match o {
            Optimization::DisableAll => GraphOptimizationLevel::Disable,
            Optimization::Basic => GraphOptimizationLevel::Level1,
            Optimization::Extended => GraphOptimizationLevel::Level2,
            Optimization::All => GraphOptimizationLevel::All,
        }
    }
}

/// How to build a session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionConfig {
    pub provider: ProviderChoice,
    pub device_id: i32,
    /// Intra-op threads; 0 lets ONNX Runtime decide.
    pub threads: usize,
    pub optimization: Optimization,
    /// Where TensorRT keeps built engines and timing caches between runs (None: no cache).
    pub engine_cache_dir: Option<PathBuf>,
}

/// A provider that was tried and could not run, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedProvider {
    pub provider: Provider,
    pub reason: String,
}

/// A loaded, validated model with its session.
pub struct InferenceSession {
    session: Session,
    description: ModelDescription,
    provider: Provider,
    skipped: Vec<SkippedProvider>,
}

impl fmt::Debug for InferenceSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InferenceSession")
            .field("description", &self.description)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl InferenceSession {
    /// Loads `path` on the provider `config` asks for. An explicitly requested provider that
    /// cannot run is an error; `Auto` tries TensorRT, CUDA, CPU in turn and records what it
    /// skipped (see [`InferenceSession::skipped`]).
    pub fn load(path: &Path, config: &SessionConfig) -> Result<Self, String> {
        check_model_file(path)?;
        let env = runtime::environment()?;
        let candidates: &[Provider] = match config.provider {
            ProviderChoice::Auto => &[Provider::TensorRt, Provider::Cuda, Provider::Cpu],
            ProviderChoice::Cpu => &[Provider::Cpu],
            ProviderChoice::Cuda => &[Provider::Cuda],
            ProviderChoice::TensorRt => &[Provider::TensorRt],
        };
        let mut skipped = Vec::new();
        for &provider in candidates {
            let attempt = Session::builder(&env)
                .map_err(|e| e.to_string())
                .and_then(|b| configure(b, config))
                .and_then(|b| with_provider(b, provider, config))
                .and_then(|mut b| {
                    b.commit_from_file(path)
                        .map_err(|e| format!("could not load model '{}': {e}", path.display()))
                });
            match attempt {
                Ok(session) => {
                    let description = describe(&session)
                        .map_err(|e| format!("model '{}': {e}", path.display()))?;
                    return Ok(Self {
                        session,
                        description,
                        provider,
                        skipped,
                    });
                }
                Err(reason)
                    if config.provider == ProviderChoice::Auto && provider != Provider::Cpu =>
                {
                    skipped.push(SkippedProvider { provider, reason });
                }
                Err(reason) => return Err(reason),
            }
        }
        unreachable!("the CPU provider is the last candidate and always returns")
    }

    pub fn description(&self) -> &ModelDescription {
        &self.description
    }

    /// The provider that runs the model.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Providers `Auto` tried before the one that runs, with the reasons they could not.
    pub fn skipped(&self) -> &[SkippedProvider] {
        &self.skipped
    }

    /// Runs the model on `input` (NCHW, shape `[1,3,height,width]`) and hands the first output's
    /// shape and values to `read`.
    pub fn run<R>(
        &mut self,
        input: &[f32],
        height: usize,
        width: usize,
        read: impl FnOnce(&[i64], &[f32]) -> R,
    ) -> Result<R, String> {
        let tensor = TensorRef::from_array_view(([1usize, 3, height, width], input))
            .map_err(|e| format!("could not wrap the input tensor: {e}"))?;
        let outputs = self
            .session
            .run(ort::inputs![tensor])
            .map_err(|e| format!("inference failed: {e}"))?;
        let (shape, values) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("could not read the output tensor: {e}"))?;
        Ok(read(shape, values))
    }
}

fn check_model_file(path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.as_os_str().is_empty() {
        return Err("no model file set (property 'model-file')".into());
    }
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("model file '{shown}' does not exist"),
        _ => format!("model file '{shown}' cannot be read: {e}"),
    })?;
    if meta.is_dir() {
        return Err(format!(
            "model file '{shown}' is a directory, not an ONNX file"
        ));
    }
    if meta.len() == 0 {
        return Err(format!("model file '{shown}' is empty"));
    }
    std::fs::File::open(path).map_err(|e| format!("model file '{shown}' cannot be read: {e}"))?;
    Ok(())
}

fn configure(builder: SessionBuilder, config: &SessionConfig) -> Result<SessionBuilder, String> {
    let builder = builder
        .with_optimization_level(config.optimization.into())
        .map_err(|e| e.to_string())?;
    if config.threads > 0 {
        builder
            .with_intra_threads(config.threads)
            .map_err(|e| e.to_string())
    } else {
        Ok(builder)
    }
}

/// Registers `provider` so that a failure to register is an error, never a silent CPU run.
fn with_provider(
    builder: SessionBuilder,
    provider: Provider,
    config: &SessionConfig,
) -> Result<SessionBuilder, String> {
    let dispatch = match provider {
        Provider::Cpu => return Ok(builder),
        Provider::Cuda => {
            require_available::<ep::CUDA>(provider)?;
            ep::CUDA::default().with_device_id(config.device_id).build()
        }
        Provider::TensorRt => {
            require_available::<ep::TensorRT>(provider)?;
            let mut trt = ep::TensorRT::default().with_device_id(config.device_id);
            if let Some(dir) = &config.engine_cache_dir {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!(
                        "cannot create the engine cache folder '{}': {e}",
                        dir.display()
                    )
                })?;
                let dir = dir.display().to_string();
                trt = trt
                    .with_engine_cache(true)
                    .with_engine_cache_path(&dir)
                    .with_timing_cache(true)
                    .with_timing_cache_path(&dir);
            }
            // Nodes TensorRT cannot take run on CUDA rather than on the CPU.
            return builder
                .with_execution_providers([
                    trt.build().error_on_failure(),
                    cuda(config).error_on_failure(),
                ])
                .map_err(|e| format!("the {provider} execution provider cannot run: {e}"));
        }
    };
    builder
        .with_execution_providers([dispatch.error_on_failure()])
        .map_err(|e| format!("the {provider} execution provider cannot run: {e}"))
}

fn cuda(config: &SessionConfig) -> ep::ExecutionProviderDispatch {
    ep::CUDA::default().with_device_id(config.device_id).build()
}

fn require_available<E: ep::ExecutionProvider>(provider: Provider) -> Result<(), String> {
    match E::is_available() {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "the {provider} execution provider is not in this ONNX Runtime library \
             (the CPU build is loaded); install the GPU build with scripts/setup.sh --gpu"
        )),
        Err(e) => Err(format!("the {provider} execution provider cannot run: {e}")),
    }
}

fn describe(session: &Session) -> Result<ModelDescription, String> {
    let inputs = session.inputs();
    let input = match inputs {
        [only] => only,
        [] => return Err("the model has no input".into()),
        _ => {
            let names: Vec<&str> = inputs.iter().map(|i| i.name()).collect();
            return Err(format!(
                "the model has {} inputs ({}); expected one image input [1,3,H,W]",
                names.len(),
                names.join(", ")
            ));
        }
    };
    let (is_float, shape) = tensor_info(input.dtype());
    let input = InputSpec::validate(input.name(), is_float, &shape)?;
    if session.outputs().is_empty() {
        return Err("the model has no output".into());
    }
    let outputs = session
        .outputs()
        .iter()
        .map(|o| {
            let (is_float, shape) = tensor_info(o.dtype());
            OutputSpec {
                name: o.name().to_owned(),
                is_float,
                shape,
            }
        })
        .collect();
    Ok(ModelDescription {
        input,
        outputs,
        metadata: read_metadata(session)?,
    })
}

fn tensor_info(dtype: &ValueType) -> (bool, Vec<i64>) {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => (*ty == TensorElementType::Float32, shape.to_vec()),
        _ => (false, Vec::new()),
    }
}

fn read_metadata(session: &Session) -> Result<HashMap<String, String>, String> {
    let meta = session
        .metadata()
        .map_err(|e| format!("cannot read metadata: {e}"))?;
    let keys = meta
        .custom_keys()
        .map_err(|e| format!("cannot read metadata: {e}"))?;
    Ok(keys
        .into_iter()
        .filter_map(|k| meta.custom(&k).map(|v| (k, v)))
        .collect())
}
