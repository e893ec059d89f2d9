// SPDX-License-Identifier: MIT OR Apache-2.0
//! Execution providers: which ones a choice tries, in what order, and registering one so that
//! a provider that cannot run is an error that says why, never a silent CPU run.

use std::fmt;
use std::path::Path;

use ort::ep::{self, ArbitrarilyConfigurableExecutionProvider};
use ort::session::builder::SessionBuilder;

use super::error::Error;
use super::gpu::{self, GpuInfo};
use super::gpu_options::{self, EngineCache, Options};
use super::runtime;
use super::session::{SessionConfig, StartReport};

/// The provider the user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderChoice {
    /// TensorRT, then CUDA, then CPU: the first that works, reported.
    #[default]
    Auto,
    /// The CPU provider only.
    Cpu,
    /// CUDA only: an error if it cannot run.
    Cuda,
    /// TensorRT (with CUDA for the nodes TensorRT cannot take) only: an error if it cannot run.
    TensorRt,
}

/// A provider that actually runs a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// The CUDA provider.
    Cuda,
    /// The TensorRT provider (with CUDA for the nodes TensorRT cannot take).
    TensorRt,
    /// An inference server (property `inference-server`): the model runs there.
    Remote,
}

impl Provider {
    /// The provider's name as the `execution-provider` property spells it.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
            Provider::Remote => "remote",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider that was tried and could not run, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedProvider {
    /// The provider `auto` tried.
    pub provider: Provider,
    /// Why it could not run.
    pub reason: Error,
}

impl fmt::Display for SkippedProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.provider, self.reason)
    }
}

/// What `auto` skipped, as one line: `provider: reason; provider: reason`.
pub fn skipped_text(skipped: &[SkippedProvider]) -> String {
    skipped
        .iter()
        .map(SkippedProvider::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The providers tried for `choice`, in order: only the one named, or for `Auto` the fastest
/// first, the CPU last (it always runs).
pub fn candidates(choice: ProviderChoice) -> &'static [Provider] {
    match choice {
        ProviderChoice::Auto => &[Provider::TensorRt, Provider::Cuda, Provider::Cpu],
        ProviderChoice::Cpu => &[Provider::Cpu],
        ProviderChoice::Cuda => &[Provider::Cuda],
        ProviderChoice::TensorRt => &[Provider::TensorRt],
    }
}

/// Registers `provider` so that a failure to register is an error, never a silent CPU run.
/// A GPU provider first asks the driver for the GPU (a clear error when there is none), and
/// TensorRT gets its engine cache for `model`; `report` says what was found.
pub(super) fn with_provider(
    builder: SessionBuilder,
    provider: Provider,
    config: &SessionConfig,
    model: &Path,
    report: &mut StartReport,
) -> Result<SessionBuilder, Error> {
    let cannot_run = |e: ort::Error<SessionBuilder>| {
        Error::runtime(format!("the {provider} execution provider cannot run: {e}"))
    };
    let dispatch = match provider {
        // The process's shared CPU arena (see `runtime::share_cpu_arena`) instead of one
        // per session, so that starting and stopping does not grow the malloc heap.
        Provider::Cpu => {
            return builder
                .with_env_allocators()
                .map_err(|e| Error::runtime(e.to_string()));
        }
        Provider::Remote => {
            return Err(Error::settings(
                "an inference server is not an ONNX Runtime execution provider",
            ));
        }
        Provider::Cuda => {
            require_available::<ep::CUDA>(provider)?;
            report.gpu = Some(probe_gpu(provider, config)?);
            cuda(config)
        }
        Provider::TensorRt => {
            require_available::<ep::TensorRT>(provider)?;
            let gpu = probe_gpu(provider, config)?;
            let settings = &config.gpu;
            let cache = match &settings.engine_cache {
                Some(root) => {
                    let cache = EngineCache::for_model(
                        root,
                        model,
                        &gpu.slug(),
                        &runtime::version(),
                        settings.trt_fp16,
                        config.profile.as_ref(),
                    )?;
                    cache.create()?;
                    report.engine_cache = Some((cache.dir(), cache.has_engine()));
                    Some(cache)
                }
                None => None,
            };
            report.gpu = Some(gpu);
            let options = gpu_options::tensorrt_options(
                settings,
                cache.as_ref().map(EngineCache::dir).as_deref(),
                cache.as_ref().map(EngineCache::timing_dir).as_deref(),
                config.profile.as_ref(),
            );
            let trt = configured(ep::TensorRT::default(), &options);
            // Nodes TensorRT cannot take run on CUDA rather than on the CPU.
            return builder
                .with_execution_providers([
                    trt.build().error_on_failure(),
                    cuda(config).error_on_failure(),
                ])
                .map_err(cannot_run);
        }
    };
    builder
        .with_execution_providers([dispatch.error_on_failure()])
        .map_err(cannot_run)
}

fn probe_gpu(provider: Provider, config: &SessionConfig) -> Result<GpuInfo, Error> {
    gpu::probe(gpu::DRIVER_LIBRARY, config.gpu.device_id)
        .map_err(|e| Error::runtime(format!("the {provider} execution provider cannot run: {e}")))
}

fn cuda(config: &SessionConfig) -> ep::ExecutionProviderDispatch {
    configured(ep::CUDA::default(), &gpu_options::cuda_options(&config.gpu)).build()
}

/// `provider` with each of `options` set.
fn configured<E: ArbitrarilyConfigurableExecutionProvider>(provider: E, options: &Options) -> E {
    options.iter().fold(provider, |p, (key, value)| {
        p.with_arbitrary_config(key, value)
    })
}

fn require_available<E: ep::ExecutionProvider>(provider: Provider) -> Result<(), Error> {
    match E::is_available() {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::runtime(format!(
            "the {provider} execution provider is not in this ONNX Runtime library \
             (the CPU build is loaded); install the GPU build with scripts/setup.sh --gpu"
        ))),
        Err(e) => Err(Error::runtime(format!(
            "the {provider} execution provider cannot run: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_tries_tensorrt_then_cuda_then_the_cpu_and_a_named_provider_alone() {
        use Provider::*;
        assert_eq!(candidates(ProviderChoice::Auto), [TensorRt, Cuda, Cpu]);
        assert_eq!(candidates(ProviderChoice::Cpu), [Cpu]);
        assert_eq!(candidates(ProviderChoice::Cuda), [Cuda]);
        assert_eq!(candidates(ProviderChoice::TensorRt), [TensorRt]);
    }
}
