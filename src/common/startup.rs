// SPDX-License-Identifier: MIT OR Apache-2.0
//! Starting an element's inference from its model properties: the session on the provider they
//! ask for (with what `auto` skipped, the GPU and the engine cache posted as the
//! `autoencoder-provider` message), its pre-processing, and the runner that drives it.

use gst::prelude::*;

use super::error_message;
use super::model_settings::ModelSettings;
use crate::inference::error::shown;
use crate::inference::gpu_options::ShapeProfile;
use crate::inference::model::keys;
use crate::inference::probe::{MultipleSource, Probe, probe};
use crate::inference::providers::skipped_text;
use crate::inference::runtime;
use crate::inference::session::HostMemory;
use crate::inference::{
    Error, InferenceSession, Preprocessing, Provider, ProviderChoice, Runner, SessionConfig, Task,
};

/// The structure name of the element message posted when a session starts.
pub const PROVIDER_MESSAGE: &str = "autoencoder-provider";

/// ONNX Runtime's own log, as a GStreamer debug category (`GST_DEBUG=onnxruntime:4`) instead
/// of raw `[E:onnxruntime:...]` lines on stderr.
static ORT_CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "onnxruntime",
        gst::DebugColorFlags::empty(),
        Some("ONNX Runtime's own log"),
    )
});

/// Routes ONNX Runtime's log into [`ORT_CAT`] (before the environment is first made).
fn route_runtime_log() {
    // Only what the category would show is produced at all.
    let least = match ORT_CAT.threshold() {
        t if t >= gst::DebugLevel::Log => runtime::LogLevel::Verbose,
        t if t >= gst::DebugLevel::Info => runtime::LogLevel::Info,
        _ => runtime::LogLevel::Warning,
    };
    let sink = std::sync::Arc::new(|level, category: &str, location: &str, message: &str| {
        let level = match level {
            runtime::LogLevel::Verbose => gst::DebugLevel::Log,
            runtime::LogLevel::Info => gst::DebugLevel::Info,
            runtime::LogLevel::Warning => gst::DebugLevel::Warning,
            runtime::LogLevel::Error | runtime::LogLevel::Fatal => gst::DebugLevel::Error,
        };
        gst::log_with_level!(*ORT_CAT, level, "[{category}] {location}: {message}");
    });
    runtime::set_log_sink(sink, least);
}

/// Loads the model the settings name and resolves its pre-processing, logging which provider
/// runs and what `auto` skipped.
pub fn start_session(
    element: &gst::Element,
    cat: gst::DebugCategory,
    settings: &ModelSettings,
) -> Result<(InferenceSession, Preprocessing), gst::ErrorMessage> {
    route_runtime_log();
    let config = settings.session_config();
    let remote = settings.remote().map_err(|e| error_message(&e))?;
    // Messages name the model file, or the model on the server.
    let path = settings.model_path();
    let session = match &remote {
        Some(remote) => InferenceSession::connect(remote, &config),
        None => InferenceSession::load(&path, &config),
    }
    .map_err(|e| error_message(&e))?;
    let overrides = settings.overrides().map_err(|e| error_message(&e))?;
    let pre = Preprocessing::resolve(&session.description().metadata, &overrides)
        .and_then(|pre| {
            pre.check_fixed_input(&session.description().input)?;
            Ok(pre)
        })
        .map_err(|e| error_message(&e.context(format!("model '{}'", shown(&path)))))?;

    let provider = session.provider();
    let skipped = skipped_text(session.skipped());
    if skipped.is_empty() {
        gst::info!(
            cat,
            obj = element,
            "running '{}' on {provider}",
            session
                .report()
                .model_file
                .as_deref()
                .unwrap_or(&path)
                .display()
        );
    } else {
        gst::warning!(
            cat,
            obj = element,
            "execution-provider=auto fell back to {provider}; skipped {skipped}"
        );
    }
    gst::debug!(
        cat,
        obj = element,
        "ONNX Runtime from {}; model {:?}; pre-processing {pre:?}",
        runtime::library_location().unwrap_or_default(),
        session.description()
    );
    if let Some(why) = runtime::shared_arena_error() {
        gst::warning!(
            cat,
            obj = element,
            "ONNX Runtime gave no shared CPU memory arena ({why}): each session has its own, \
             and memory may grow over state changes"
        );
    }
    Ok((session, pre))
}

/// Runs the model once at start (see [`probe`]): checks its output with `task` and, where
/// neither the model nor the `size-multiple` property says, finds the size multiple it needs
/// and sets it in `pre`. Logs what it found.
pub fn probe_model<T: Task>(
    element: &gst::Element,
    cat: gst::DebugCategory,
    settings: &ModelSettings,
    session: &mut InferenceSession,
    task: &mut T,
    pre: &mut Preprocessing,
) -> Result<Probe, gst::ErrorMessage> {
    let path = settings.model_path();
    let in_model = |e: Error| error_message(&e.context(format!("model '{}'", shown(&path))));
    let declared = (settings.size_multiple > 0
        || session
            .description()
            .metadata
            .contains_key(keys::SIZE_MULTIPLE))
    .then_some(pre.size_multiple);
    let probe = if session.provider() == Provider::TensorRt {
        // UNTESTED on a GPU. TensorRT builds an engine for every new input shape (minutes):
        // the probe sizes run on a CPU session of the same model instead.
        let config = SessionConfig {
            provider: ProviderChoice::Cpu,
            ..settings.session_config()
        };
        let mut cpu = InferenceSession::load(&path, &config).map_err(in_model)?;
        read_task_outputs(&mut cpu, task).map_err(in_model)?;
        probe(&mut cpu, task, declared)
    } else {
        probe(session, task, declared)
    }
    .map_err(in_model)?;
    pre.size_multiple = probe.multiple;
    match &probe.source {
        MultipleSource::Found if probe.multiple > 1 => gst::info!(
            cat,
            obj = element,
            "'{}' declares no size_multiple; it needs sizes in multiples of {} (found at start): \
             dynamic sides are padded to that",
            path.display(),
            probe.multiple
        ),
        MultipleSource::NotFound(why) => gst::warning!(
            cat,
            obj = element,
            "could not run '{}' on any probe size at start (first: {why}); frames run at \
             multiples of {}",
            path.display(),
            probe.multiple
        ),
        _ => gst::debug!(cat, obj = element, "probe at start: {probe:?}"),
    }
    Ok(probe)
}

/// Makes `session` read the outputs `task` needs.
pub fn read_task_outputs<T: Task>(session: &mut InferenceSession, task: &T) -> Result<(), Error> {
    match task.outputs() {
        Some((main, second)) => session.read_outputs(main, second),
        None => Ok(()),
    }
}

/// Logs and posts (`autoencoder-provider`) where `session` runs: the provider, what `auto`
/// skipped, the GPU, the TensorRT engine cache and whether it held the engine, the start time,
/// and the size multiple in use with where it comes from.
pub fn post_start_report(
    element: &gst::Element,
    cat: gst::DebugCategory,
    settings: &ModelSettings,
    session: &InferenceSession,
    probe: &Probe,
) {
    let provider = session.provider();
    let skipped = skipped_text(session.skipped());
    let report = session.report();
    let device = report.gpu.as_ref().map_or(String::new(), |g| {
        format!(
            "{} (device-id {}, sm{}{})",
            g.name, g.device_id, g.compute_capability.0, g.compute_capability.1
        )
    });
    let (engine_cache, engine_cache_hit) = report
        .engine_cache
        .as_ref()
        .map_or((String::new(), false), |(dir, hit)| {
            (dir.display().to_string(), *hit)
        });
    let start_ms = report.load_time.as_millis() as u64;
    if let HostMemory::Pageable(why) = &report.host_memory {
        gst::warning!(
            cat,
            obj = element,
            "no page-locked host memory for the {provider} provider ({why}): tensors are copied \
             to and from the GPU through pageable memory, which is slower"
        );
    }
    if !device.is_empty() {
        gst::info!(
            cat,
            obj = element,
            "{provider} on {device}; session built in {start_ms} ms{}",
            if engine_cache.is_empty() {
                String::new()
            } else if engine_cache_hit {
                format!("; TensorRT engine from the cache {engine_cache}")
            } else {
                format!("; TensorRT engine built and cached in {engine_cache}")
            }
        );
    }
    let structure = gst::Structure::builder(PROVIDER_MESSAGE)
        .field("requested", settings.execution_provider)
        .field("active", provider.name())
        .field("fallback", !skipped.is_empty())
        .field("skipped", skipped)
        .field("device", device)
        .field("engine-cache", engine_cache)
        .field("engine-cache-hit", engine_cache_hit)
        .field("start-ms", start_ms)
        .field("host-memory", report.host_memory.to_string())
        .field(
            "size-multiple",
            u32::try_from(probe.multiple).unwrap_or(u32::MAX),
        )
        .field("size-multiple-source", probe.source.to_string())
        .field(
            "model-file",
            report
                .model_file
                .as_deref()
                .or(settings.model_file.as_deref())
                .unwrap_or(std::path::Path::new(""))
                .display()
                .to_string(),
        )
        .field(
            "runtime-library",
            runtime::library_location().unwrap_or_default(),
        )
        .build();
    let _ = element.post_message(
        gst::message::Element::builder(structure)
            .src(element)
            .build(),
    );
}

/// Runs `task` on the session as the `non-blocking` setting says. A TensorRT session of a
/// dynamic-size model is rebuilt for each negotiated size, with that size as its shape
/// profile, so that its engine (cached) fits the stream exactly.
pub fn start_runner<T: Task>(
    element: &gst::Element,
    cat: gst::DebugCategory,
    settings: &ModelSettings,
    session: InferenceSession,
    task: T,
    probe: &Probe,
) -> Result<Runner<T>, gst::ErrorMessage> {
    let per_size = session.provider() == Provider::TensorRt
        && session.description().input.fixed_size().is_none();
    let input = session.description().input.name.clone();
    let mut runner = if settings.non_blocking {
        Runner::background(session, task, &format!("{}:infer", element.name()))
            .map_err(|e| error_message(&e))?
    } else {
        Runner::blocking(session, task)
    };
    if per_size {
        let path = settings.model_file.clone().unwrap_or_default();
        let config = SessionConfig {
            // The first session ran on TensorRT: its rebuilds must too.
            provider: crate::inference::ProviderChoice::TensorRt,
            ..settings.session_config()
        };
        let (element, settings, probe) = (element.clone(), settings.clone(), probe.clone());
        runner.rebuild_per_size(Box::new(move |width, height| {
            let profile = ShapeProfile {
                input: input.clone(),
                width,
                height,
            };
            let session = InferenceSession::load(
                &path,
                &SessionConfig {
                    profile: Some(profile),
                    ..config.clone()
                },
            )?;
            // Says again where it runs: this start is the one that builds (or finds) the
            // engine for the stream's size.
            post_start_report(&element, cat, &settings, &session, &probe);
            Ok(session)
        }));
    }
    Ok(runner)
}
