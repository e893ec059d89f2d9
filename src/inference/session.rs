// SPDX-License-Identifier: MIT OR Apache-2.0
//! An ONNX Runtime session on one execution provider: loading a model on the provider a
//! choice gives (see [`super::providers`]), and running it on tensors bound once per size.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ort::AsPointer;
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::IoBinding;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::value::Tensor;

use super::error::{Error, MAX_TENSOR_BYTES, checked_tensor_len, shown};
use super::gpu::GpuInfo;
use super::gpu_options::{GpuSettings, ShapeProfile};
use super::model::{ModelDescription, check_model_file, explain_load_error};
use super::providers::{Provider, ProviderChoice, SkippedProvider, candidates, with_provider};
use super::remote::{RemoteModel, RemoteSettings};
use super::runtime;
use std::fmt;

/// Graph optimisation, named as GStreamer's onnxinference names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Optimization {
    /// No graph optimisation.
    DisableAll,
    /// Basic optimisations (constant folding, redundant nodes).
    Basic,
    /// Basic and extended (node fusions).
    Extended,
    /// Everything, including layout optimisations (the default).
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
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// The provider to run on (never a silent fallback).
    pub provider: ProviderChoice,
    /// Intra-op threads; 0 lets ONNX Runtime decide.
    pub threads: usize,
    /// Graph optimisation level.
    pub optimization: Optimization,
    /// Whether idle intra-op threads spin (burning CPU for a little lower latency). Off by
    /// default: on this project's benchmark it did not help and it steals cores from the
    /// rest of the pipeline.
    pub intra_op_spinning: bool,
    /// Device, TensorRT precision and engine cache, CUDA options.
    pub gpu: GpuSettings,
    /// TensorRT: build the engine for this input size; None: for the size of the first
    /// inference.
    pub profile: Option<ShapeProfile>,
    /// The most bytes one input or output tensor may take (see [`MAX_TENSOR_BYTES`]).
    pub max_tensor_bytes: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            provider: ProviderChoice::default(),
            threads: 0,
            optimization: Optimization::default(),
            intra_op_spinning: false,
            gpu: GpuSettings::default(),
            profile: None,
            max_tensor_bytes: MAX_TENSOR_BYTES,
        }
    }
}

/// Where a GPU session runs and what its start cost.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StartReport {
    /// The GPU (None on the CPU provider).
    pub gpu: Option<GpuInfo>,
    /// TensorRT's engine folder, and whether an engine was already there (the build skipped).
    pub engine_cache: Option<(PathBuf, bool)>,
    /// Building the session: loading, optimising, and for TensorRT building or loading the
    /// engine (the first inference may add to it where ONNX Runtime builds lazily).
    pub load_time: std::time::Duration,
    /// Where the bound input and output tensors live.
    pub host_memory: HostMemory,
    /// The model file loaded: the path given, or the file a bare model name was found as
    /// (None for a model on an inference server).
    pub model_file: Option<PathBuf>,
}

/// The host memory of the bound tensors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HostMemory {
    /// The CPU provider: ordinary memory is what it reads.
    #[default]
    Ordinary,
    /// A GPU provider, page-locked memory: ONNX Runtime can copy to and from the GPU by DMA.
    Pinned,
    /// A GPU provider that gave no page-locked memory (why): ordinary memory, slower copies.
    Pageable(String),
}

impl fmt::Display for HostMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostMemory::Ordinary => Ok(()),
            HostMemory::Pinned => f.write_str("pinned"),
            HostMemory::Pageable(why) => write!(f, "pageable: {why}"),
        }
    }
}

/// A loaded, validated model with its session: in this process (ONNX Runtime), or on an
/// inference server.
pub struct InferenceSession {
    backend: Backend,
    description: ModelDescription,
    provider: Provider,
    skipped: Vec<SkippedProvider>,
    report: StartReport,
    max_tensor_bytes: usize,
    /// The outputs read at each run: the main one, and a second one (e.g. a score) if asked.
    read: (usize, Option<usize>),
}

/// Where the model runs.
// One per session, never moved once built: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Local(Local),
    Remote(Box<RemoteModel>),
}

/// An ONNX Runtime session and the tensors bound to it.
struct Local {
    // Dropped in this order: the bound tensors, their allocator, then the session.
    bound: Option<Bound>,
    /// Page-locked host memory for the bound tensors on a GPU provider (None: ordinary).
    pinned: Option<Allocator>,
    session: Session,
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
    ///
    /// A bare model name (`segmentation_unet`, no `/`, not a file here) is looked up in the
    /// model folders (see [`super::model_search`]).
    pub fn load(path: &Path, config: &SessionConfig) -> Result<Self, Error> {
        let path = &*super::model_search::resolve(path)?;
        check_model_file(path)?;
        let env = runtime::environment()?;
        let mut skipped = Vec::new();
        for &provider in candidates(config.provider) {
            let start = Instant::now();
            let mut report = StartReport::default();
            let attempt = Session::builder(&env)
                .map_err(|e| Error::runtime(e.to_string()))
                .and_then(|b| configure(b, config))
                .and_then(|b| with_provider(b, provider, config, path, &mut report))
                .and_then(|mut b| {
                    b.commit_from_file(path)
                        .map_err(|e| explain_load_error(path, &e.to_string()))
                });
            match attempt {
                Ok(session) => {
                    let description = ModelDescription::of_session(&session)
                        .map_err(|e| e.context(format!("model '{}'", shown(path))))?;
                    let pinned = match provider {
                        Provider::Cpu | Provider::Remote => None,
                        Provider::Cuda | Provider::TensorRt => match pinned_allocator(&session) {
                            Ok(allocator) => {
                                report.host_memory = HostMemory::Pinned;
                                Some(allocator)
                            }
                            Err(e) => {
                                report.host_memory = HostMemory::Pageable(e.to_string());
                                None
                            }
                        },
                    };
                    report.load_time = start.elapsed();
                    report.model_file = Some(path.to_path_buf());
                    return Ok(Self {
                        backend: Backend::Local(Local {
                            bound: None,
                            pinned,
                            session,
                        }),
                        description,
                        provider,
                        skipped,
                        report,
                        max_tensor_bytes: config.max_tensor_bytes,
                        read: (0, None),
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

    /// Connects to the model an inference server serves (see [`RemoteModel`]); it runs
    /// there, on whatever the server runs it.
    pub fn connect(remote: &RemoteSettings, config: &SessionConfig) -> Result<Self, Error> {
        let start = Instant::now();
        let (model, description) = RemoteModel::connect(remote, config.max_tensor_bytes)?;
        Ok(Self {
            backend: Backend::Remote(Box::new(model)),
            description,
            provider: Provider::Remote,
            skipped: Vec::new(),
            report: StartReport {
                load_time: start.elapsed(),
                ..StartReport::default()
            },
            max_tensor_bytes: config.max_tensor_bytes,
            read: (0, None),
        })
    }

    /// The model's input, outputs and metadata.
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

    /// The GPU, the engine cache and the start time.
    pub fn report(&self) -> &StartReport {
        &self.report
    }

    /// The most bytes one tensor may take.
    pub fn max_tensor_bytes(&self) -> usize {
        self.max_tensor_bytes
    }

    /// Reads the output named `main` (instead of the first) at each run, and `second` beside
    /// it when given (both float tensors).
    pub fn read_outputs(&mut self, main: &str, second: Option<&str>) -> Result<(), Error> {
        let index = |name: &str| {
            self.description
                .outputs
                .iter()
                .position(|o| o.name == name && o.is_float)
                .ok_or_else(|| {
                    Error::settings(format!("the model has no float output named '{name}'"))
                })
        };
        self.read = (index(main)?, second.map(index).transpose()?);
        match &mut self.backend {
            Backend::Local(local) => local.bound = None,
            Backend::Remote(model) => {
                let mut names = vec![main];
                names.extend(second);
                model.read_outputs(&names);
            }
        }
        Ok(())
    }

    /// The input tensor for a `width` x `height` frame, planar `[1,C,height,width]`, to be
    /// filled in place before [`InferenceSession::run`]. The input and output tensors are bound
    /// to the session once per input size and reused: a new size costs one inference (to learn
    /// the output's shape), the same size costs nothing.
    pub fn input_mut(&mut self, width: usize, height: usize) -> Result<&mut [f32], Error> {
        let local = match &mut self.backend {
            Backend::Local(local) => local,
            Backend::Remote(model) => return model.input_mut(width, height),
        };
        if local
            .bound
            .as_ref()
            .is_none_or(|b| (b.height, b.width) != (height, width))
        {
            local.bound = None;
            let default = Allocator::default();
            local.bound = Some(Bound::new(
                &mut local.session,
                &self.description,
                local.pinned.as_ref().unwrap_or(&default),
                (height, width),
                self.max_tensor_bytes,
                self.read,
            )?);
        }
        let bound = local.bound.as_mut().expect("bound above");
        Ok(bound.input.extract_tensor_mut().1)
    }

    /// Runs the model on the input last prepared with [`InferenceSession::input_mut`] and
    /// returns that input with the first output's shape and values. Allocates nothing on the
    /// Rust side; ONNX Runtime writes into the bound output tensor.
    pub fn run(&mut self) -> Result<RunOutput<'_>, Error> {
        let local = match &mut self.backend {
            Backend::Local(local) => local,
            Backend::Remote(model) => {
                model.run()?;
                let model = &**model;
                let (shape, values) = model.output(0).unwrap_or((&[], &[]));
                return Ok(RunOutput {
                    input: model.input(),
                    shape,
                    values,
                    non_finite: count_non_finite(values),
                    second: model.output(1),
                });
            }
        };
        let bound = local
            .bound
            .as_ref()
            .ok_or_else(|| Error::inference("no input prepared (input_mut) before run"))?;
        // The input is bound again for every run, on every provider: binding copies a host
        // tensor to a GPU provider's device at bind time (later writes to it would not be
        // seen), while on the CPU it aliases the tensor. One path for all providers keeps the
        // CPU tests exercising exactly the calls a GPU runs.
        // SAFETY (this block and the calls below): every pointer comes from a live object
        // owned by `self` (the session, the binding, the input value and its name); the
        // binding holds the values it was given.
        // `IoBinding::bind_input` and `Session::run_binding` would make the same calls but
        // allocate a name and a map of outputs on the heap at every frame.
        let status = unsafe {
            (ort::api().BindInput)(
                bound.binding.ptr().cast_mut(),
                bound.input_name.as_ptr(),
                bound.input.ptr(),
            )
        };
        check_status(status)
            .map_err(|e| Error::inference(format!("cannot bind the input: {e}")))?;
        // A GPU provider may copy the input and the output asynchronously: wait for the
        // input's copy before the run and for the output's before it is read (no-ops on the CPU).
        let binding = bound.binding.ptr().cast_mut();
        let status = unsafe { (ort::api().SynchronizeBoundInputs)(binding) };
        check_status(status)
            .map_err(|e| Error::inference(format!("cannot copy the input: {e}")))?;
        let status = unsafe {
            (ort::api().RunWithBinding)(
                local.session.ptr().cast_mut(),
                std::ptr::null(),
                bound.binding.ptr(),
            )
        };
        check_status(status).map_err(|e| Error::inference(format!("inference failed: {e}")))?;
        let status = unsafe { (ort::api().SynchronizeBoundOutputs)(binding) };
        check_status(status)
            .map_err(|e| Error::inference(format!("cannot copy the output: {e}")))?;
        let (shape, values) = bound.output.extract_tensor();
        Ok(RunOutput {
            input: bound.input.extract_tensor().1,
            shape,
            values,
            non_finite: count_non_finite(values),
            second: bound.second.as_ref().map(|t| {
                let (shape, values) = t.extract_tensor();
                (&shape[..], values)
            }),
        })
    }
}

/// One inference: the input the model saw and its first output.
pub struct RunOutput<'a> {
    /// The input tensor, planar `[1,C,H,W]` (C: 3, or 1 for luma).
    pub input: &'a [f32],
    /// The first output's shape.
    pub shape: &'a [i64],
    /// The first output's values, in row-major order of `shape`.
    pub values: &'a [f32],
    /// How many output values are NaN or infinite. The tasks clamp them (NaN as 0, infinities
    /// to the ends of the range) so that frames stay valid; the element warns about them.
    pub non_finite: usize,
    /// The second output read, if one was asked for ([`InferenceSession::read_outputs`]):
    /// its shape and values.
    pub second: Option<(&'a [i64], &'a [f32])>,
}

/// NaN and infinities share the all-ones exponent; counting on the bits vectorises.
fn count_non_finite(values: &[f32]) -> usize {
    values
        .iter()
        .map(|v| usize::from(v.to_bits() & 0x7f80_0000 == 0x7f80_0000))
        .sum()
}

/// Tensors bound to a session for one input size.
struct Bound {
    height: usize,
    width: usize,
    /// The input's name for the C API (bound again at every run).
    input_name: std::ffi::CString,
    input: Tensor<f32>,
    output: Tensor<f32>,
    second: Option<Tensor<f32>>,
    binding: IoBinding,
}

impl Bound {
    fn new(
        session: &mut Session,
        description: &ModelDescription,
        allocator: &Allocator,
        (height, width): (usize, usize),
        max_tensor_bytes: usize,
        read: (usize, Option<usize>),
    ) -> Result<Self, Error> {
        let what = |e: ort::Error| {
            Error::inference(format!("cannot prepare a {width}x{height} input: {e}"))
        };
        let channels = description.input.channels;
        checked_tensor_len(
            "the input tensor",
            &[1, channels, height, width],
            max_tensor_bytes,
        )?;
        let mut input =
            Tensor::<f32>::new(allocator, [1usize, channels, height, width]).map_err(what)?;
        input.extract_tensor_mut().1.fill(0.0);
        let (main, second) = read;
        let name_of = |i: usize| description.outputs[i].name.as_str();
        // The outputs' sizes may depend on the input's: one run tells them (and warms up).
        let (shape, second_shape) = {
            let outputs = session.run(ort::inputs![&input]).map_err(|e| {
                Error::inference(format!("inference failed on a {width}x{height} input: {e}"))
            })?;
            let shape_of = |i: usize| -> Result<Vec<i64>, Error> {
                let (shape, _) = outputs[name_of(i)]
                    .try_extract_tensor::<f32>()
                    .map_err(|e| {
                        Error::inference(format!("could not read output '{}': {e}", name_of(i)))
                    })?;
                Ok(shape.to_vec())
            };
            (shape_of(main)?, second.map(shape_of).transpose()?)
        };
        let mut binding = session.create_binding().map_err(what)?;
        binding
            .bind_input(description.input.name.as_str(), &input)
            .map_err(what)?;
        let mut bind_output = |index: usize, shape: Vec<i64>| -> Result<Tensor<f32>, Error> {
            let dims: Vec<usize> = shape
                .iter()
                .map(|&d| usize::try_from(d).unwrap_or(0))
                .collect();
            checked_tensor_len("the output tensor", &dims, max_tensor_bytes)?;
            let mut output = Tensor::<f32>::new(allocator, shape).map_err(what)?;
            binding
                .bind_output(name_of(index), &mut output)
                .map_err(what)?;
            Ok(output)
        };
        let output = bind_output(main, shape)?;
        let second = match (second, second_shape) {
            (Some(index), Some(shape)) => Some(bind_output(index, shape)?),
            _ => None,
        };
        let input_name = std::ffi::CString::new(description.input.name.as_str()).map_err(|_| {
            Error::inference(format!(
                "input name {:?} holds a NUL byte",
                description.input.name
            ))
        })?;
        Ok(Self {
            height,
            width,
            input_name,
            input,
            output,
            second,
            binding,
        })
    }
}

/// The GPU providers' page-locked host allocator: tensors in it are copied to and from the GPU
/// by DMA, without the staging copy pageable memory needs. The CUDA (and TensorRT) provider
/// registers it for every session.
fn pinned_allocator(session: &Session) -> Result<Allocator, Error> {
    let info = MemoryInfo::new(
        AllocationDevice::CUDA_PINNED,
        0,
        AllocatorType::Device,
        MemoryType::CPUOutput,
    )
    .map_err(|e| Error::runtime(e.to_string()))?;
    Allocator::new(session, info).map_err(|e| Error::runtime(e.to_string()))
}

/// Turns an ONNX Runtime status into its message (freeing it).
pub(super) fn check_status(status: ort::sys::OrtStatusPtr) -> Result<(), String> {
    if status.0.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null status is a live OrtStatus that we own and release once.
    unsafe {
        let message = std::ffi::CStr::from_ptr((ort::api().GetErrorMessage)(status.0))
            .to_string_lossy()
            .into_owned();
        (ort::api().ReleaseStatus)(status.0);
        Err(message)
    }
}

fn configure(builder: SessionBuilder, config: &SessionConfig) -> Result<SessionBuilder, Error> {
    let builder = builder
        .with_optimization_level(config.optimization.into())
        .map_err(|e| Error::runtime(e.to_string()))?
        .with_intra_op_spinning(config.intra_op_spinning)
        .map_err(|e| Error::runtime(e.to_string()))?
        // Subnormal floats (dark frames drive activations towards zero) make the CPU's maths
        // 10-20% slower on this project's models; treating them as zero changes no output
        // beyond the reference tests' 1e-4.
        .with_flush_to_zero()
        .map_err(|e| Error::runtime(e.to_string()))?
        .with_log_level(runtime::log_level())
        .map_err(|e| Error::runtime(e.to_string()))?;
    if config.threads > 0 {
        builder
            .with_intra_threads(config.threads)
            .map_err(|e| Error::runtime(e.to_string()))
    } else {
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nan_and_both_infinities_only() {
        let values = [
            0.0,
            -0.0,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE / 2.0, // subnormal: finite
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        assert_eq!(count_non_finite(&values), 4);
        assert_eq!(count_non_finite(&[]), 0);
    }
}
