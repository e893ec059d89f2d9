// SPDX-License-Identifier: MIT OR Apache-2.0
//! The element core the three elements share: starting a session and its runner from the
//! model properties, negotiating and warming up, the frame schedule (QoS, pipelining), the
//! events and queries every element answers alike, and the per-frame inference step. Each
//! element keeps only what is its own: its task, its drawing, its properties and metas.

use std::sync::{Mutex, MutexGuard};

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::enums::InferenceErrorPolicy;
use super::failures::FrameFailures;
use super::live::{self, FrameCost, Inference, Phase, Schedule, Scheduled};
use super::model_settings::ModelSettings;
use super::non_finite::NonFiniteWarning;
use super::startup::{
    post_start_report, probe_model, read_task_outputs, start_runner, start_session,
};
use super::{InferMode, check_kind, infer_frame};
use crate::inference::model::ModelDescription;
use crate::inference::probe::Probe;
use crate::inference::resize::Size;
use crate::inference::{Error, ErrorKind, ImageRef, Preprocessing, Runner, Task, TensorInput};

/// What an element holds while started.
pub struct Started<T: Task, E> {
    /// Runs the model, blocking or on its own thread.
    pub runner: Runner<T>,
    /// Turns frames into the model's input tensor.
    pub input: TensorInput,
    /// The negotiated input and output, set from the caps.
    pub caps: Option<(gst_video::VideoInfo, gst_video::VideoInfo)>,
    /// Frames seen since the caps were set (inference runs when `frames % interval == 0`).
    pub frames: u64,
    /// The result generation and frame size the element last derived its frame-size data
    /// from (scaled class ids, error map): derive again only when one changes.
    derived_from: Option<(u64, usize, usize)>,
    /// The model file, as messages show it.
    model: String,
    /// The input size the model ran on at start, if any.
    ran_on: Option<Size>,
    /// The tensor size whose warm-up failed, and why: negotiation tries the same caps again,
    /// and a failure that took long (an out-of-memory 8K run) must not be paid twice.
    failed_warm_up: Option<(Size, Error)>,
    /// Frames whose inference failed, and what a failure does (the newest frame's setting).
    failures: FrameFailures,
    on_error: InferenceErrorPolicy,
    /// The element's own state.
    pub own: E,
}

impl<T: Task, E> Started<T, E> {
    /// The negotiated input and output.
    pub fn caps(&self) -> Result<(gst_video::VideoInfo, gst_video::VideoInfo), gst::FlowError> {
        self.caps.clone().ok_or(gst::FlowError::NotNegotiated)
    }

    /// Brings the element's frame-size data up to date with the newest result: `derive` runs
    /// (with the result and the element's own state) only when the result or the frame size
    /// changed since it last ran. Returns false while there is no result yet.
    pub fn derive_from_newest(
        &mut self,
        width: usize,
        height: usize,
        derive: impl FnOnce(&T::Output, &mut E) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let Self {
            runner,
            own,
            derived_from,
            ..
        } = self;
        runner.with_latest(|latest| {
            let Some(latest) = latest else {
                return Ok(false);
            };
            let key = Some((latest.generation, width, height));
            if *derived_from != key {
                derive(latest.output, own)?;
                *derived_from = key;
            }
            Ok(true)
        })
    }
}

impl<T: Task, E> Started<T, E> {
    /// A frame's failed inference: with on-inference-error=pass, counted and reported, and
    /// the frame goes on without a result; else posted as the element error that stops the
    /// stream.
    fn inference_failed(&mut self, element: &gst::Element, e: Error) -> Result<(), gst::FlowError> {
        let e = self.explain(e);
        if self.on_error == InferenceErrorPolicy::Pass {
            self.failures.record(element, &e);
            self.runner.withhold_result();
            Ok(())
        } else {
            self.failures.count();
            Err(stream_error(element, &e))
        }
    }

    /// A frame's error with the model and the frame size in front of it.
    pub fn explain(&self, e: Error) -> Error {
        match &self.caps {
            Some((info, _)) => e.context(format!(
                "model '{}' on {}x{} frames",
                self.model,
                info.width(),
                info.height()
            )),
            None => e.context(format!("model '{}'", self.model)),
        }
    }
}

/// What a start found: where the model runs, and what running it at start told.
#[derive(Debug, Clone)]
pub struct StartOutcome {
    /// The execution provider that runs the session.
    pub active_provider: String,
    /// The run at start (size multiple, the input size it ran on).
    pub probe: Probe,
}

/// The settings that decide how a frame is inferred, copied out under the settings lock.
#[derive(Debug, Clone, Copy)]
pub struct FrameSettings {
    /// Infer every `interval`-th frame (1: every frame); the others reuse the last result.
    pub interval: u32,
    /// Inference runs on its own thread and frames do not wait for it.
    pub non_blocking: bool,
    /// Non-blocking: wait for the first result rather than pass frames unprocessed.
    pub wait_first_result: bool,
    /// What a frame whose inference fails does to the stream.
    pub on_error: InferenceErrorPolicy,
}

impl FrameSettings {
    /// The frame settings of `model`'s properties and the element's `interval`.
    pub fn new(model: &ModelSettings, interval: u32) -> Self {
        Self {
            interval,
            non_blocking: model.non_blocking,
            wait_first_result: model.wait_first_result,
            on_error: model.on_inference_error,
        }
    }
}

/// The shared part of an element: its started state, its schedule, its NaN warning.
pub struct ElementCore<T: Task, E> {
    state: Mutex<Option<Started<T, E>>>,
    /// Which frames are inferred and when each leaves (QoS, pipelining, latency).
    pub schedule: Schedule,
    non_finite: NonFiniteWarning,
    /// A caps-time failure was posted since the start (negotiation retries it; once is enough).
    caps_error_posted: std::sync::atomic::AtomicBool,
}

impl<T: Task, E> Default for ElementCore<T, E> {
    fn default() -> Self {
        Self {
            state: Mutex::new(None),
            schedule: Schedule::default(),
            non_finite: NonFiniteWarning::default(),
            caps_error_posted: Default::default(),
        }
    }
}

impl<T: Task, E: Send> ElementCore<T, E> {
    /// The started state (None before start and after stop).
    pub fn lock(&self) -> MutexGuard<'_, Option<Started<T, E>>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts: loads the model the settings name, checks that its declared `kind` is this
    /// element's, lets `prepare` check the model and make the task and the element's own state
    /// (`not_this` turns a reason into "model 'F' is not {what}: {reason}"), and starts the
    /// runner. Returns the provider that runs and what the run at start found.
    pub fn start(
        &self,
        element: &gst::Element,
        cat: gst::DebugCategory,
        settings: &ModelSettings,
        kind: &str,
        what: &str,
        prepare: impl FnOnce(
            &ModelDescription,
            &Preprocessing,
            &dyn Fn(String) -> gst::ErrorMessage,
        ) -> Result<(T, E), gst::ErrorMessage>,
    ) -> Result<StartOutcome, gst::ErrorMessage> {
        let (mut session, mut pre) = start_session(element, cat, settings)?;
        let model_file = settings.model_path();
        let not_this = |why: String| {
            gst::error_msg!(
                gst::LibraryError::Settings,
                ("model '{}' is not {what}: {why}", model_file.display())
            )
        };
        let description = session.description();
        check_kind(description.kind(), kind).map_err(not_this)?;
        let (mut task, own) = prepare(description, &pre, &not_this)?;
        read_task_outputs(&mut session, &task).map_err(|e| not_this(e.to_string()))?;
        let probe = probe_model(element, cat, settings, &mut session, &mut task, &mut pre)?;
        post_start_report(element, cat, settings, &session, &probe);
        let input = TensorInput::new(&session.description().input, &pre, settings.inference_scale);
        let active = session.provider().name().to_owned();
        let runner = start_runner(element, cat, settings, session, task, &probe)?;
        *self.lock() = Some(Started {
            runner,
            input,
            caps: None,
            frames: 0,
            derived_from: None,
            model: crate::inference::error::shown(&model_file),
            ran_on: probe.ran_on,
            failed_warm_up: None,
            failures: FrameFailures::new(settings.failed_frames.clone()),
            on_error: settings.on_inference_error,
            own,
        });
        self.schedule.reset();
        self.non_finite.reset();
        self.caps_error_posted
            .store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(StartOutcome {
            active_provider: active,
            probe,
        })
    }

    /// Stops: drops the runner (joining its inference thread, if any).
    pub fn stop(&self) {
        *self.lock() = None;
        self.schedule.reset();
    }

    /// New caps: binds the tensors for the frame size and times one inference (the latency
    /// frames will see), and tells the schedule.
    pub fn set_caps(
        &self,
        element: &gst::Element,
        cat: gst::DebugCategory,
        caps: (gst_video::VideoInfo, gst_video::VideoInfo),
        can_pipeline: bool,
    ) -> Result<(), gst::LoggableError> {
        let mut state = self.lock();
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(cat, "caps set before start"))?;
        let (width, height) = (caps.0.width() as usize, caps.0.height() as usize);
        let framerate = caps.0.fps();
        let tensor = state.input.layout(width, height);
        state.caps = Some(caps);
        state.frames = 0;
        if let Some((size, e)) = &state.failed_warm_up
            && *size == tensor.tensor
        {
            return Err(gst::loggable_error!(cat, "{e}"));
        }
        gst::debug!(
            cat,
            obj = element,
            "warm-up on a {}x{} tensor",
            tensor.tensor.width,
            tensor.tensor.height
        );
        let took = state.runner.warm_up(tensor).map_err(|e| {
            let e = match e.kind() {
                ErrorKind::Inference => e.remedy(warm_up_remedy(tensor.tensor, state.ran_on)),
                _ => e,
            }
            .context(format!(
                "model '{}' on {width}x{height} frames",
                state.model
            ));
            // Said on the bus by this element, naming the cause (else the source would report
            // only not-negotiated), and once: negotiation tries the same caps again.
            if !self
                .caps_error_posted
                .swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                super::post_error(element, &e);
            }
            let logged = gst::loggable_error!(cat, "{e}");
            state.failed_warm_up = Some((tensor.tensor, e));
            logged
        })?;
        self.schedule
            .configure(element, cat, framerate, took, can_pipeline);
        gst::debug!(
            cat,
            obj = element,
            "configured for {width}x{height}; model input {}x{}, one inference {took:?}",
            tensor.tensor.width,
            tensor.tensor.height
        );
        Ok(())
    }

    /// Adds the element's latency to an answered LATENCY query going upstream.
    pub fn answer_query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) {
        if direction == gst::PadDirection::Src {
            self.schedule.latency().add_to(query);
        }
    }

    /// Before a serialized event goes on: a held frame goes out first; at EOS the inference
    /// in flight is waited for and its error, if any, posted.
    pub fn sink_event<I: Scheduled>(&self, imp: &I, event: &gst::Event)
    where
        <I as gst::glib::subclass::types::ObjectSubclass>::ParentType: IsA<gst_base::BaseTransform>,
    {
        let element = imp.obj();
        let element: &gst::Element = element.upcast_ref();
        if let Err(e) = self.schedule.sink_event(imp, event) {
            gst::element_error!(element, gst::StreamError::Failed, ("{e}"));
        }
        if let gst::EventView::Eos(_) = event.view()
            && let Some(state) = self.lock().as_mut()
        {
            // A failure of the last inference (non-blocking) is not lost.
            if let Err(e) = state.runner.finish() {
                let _ = state.inference_failed(element, e);
            }
            state.failures.at_eos(element);
        }
    }

    /// What the next frame costs (see [`FrameCost`]).
    pub fn frame_cost(&self, settings: FrameSettings) -> FrameCost {
        self.lock().as_ref().map_or_else(FrameCost::default, |s| {
            FrameCost::of(
                &s.runner,
                s.frames,
                settings.interval,
                settings.non_blocking,
            )
        })
    }

    /// The inference step of a frame: none for a held frame (its inference ran) or one that
    /// `interval` skips; else as the mode says (see [`infer_frame`]). Warns once about NaN or
    /// infinite outputs.
    pub fn infer(
        &self,
        element: &gst::Element,
        state: &mut Started<T, E>,
        settings: FrameSettings,
        image: &ImageRef,
    ) -> Result<(), gst::FlowError> {
        let phase = self.schedule.phase();
        let mode = InferMode {
            due: phase == Phase::Infer
                && super::analysis::inference_due(state.frames, settings.interval),
            non_blocking: settings.non_blocking,
            wait_first_result: settings.wait_first_result,
        };
        if phase == Phase::Infer {
            state.frames += 1;
        }
        state.on_error = settings.on_error;
        let result = infer_frame(&mut state.runner, &mut state.input, image, mode);
        if mode.due || phase == Phase::DrawHeld {
            self.non_finite.check(element, &state.runner);
        }
        // Non-blocking: an inference that failed since (a frame `interval` skips, or one that
        // finished between submitting and now). Pipelined frames have theirs from `wait`.
        let result = result.and_then(|_| match settings.non_blocking {
            true => state.runner.take_error().map_or(Ok(()), Err),
            false => Ok(()),
        });
        match result {
            Ok(()) => {
                let runner = &state.runner;
                state
                    .failures
                    .note_success(element, || !runner.result_withheld());
                Ok(())
            }
            Err(e) => state.inference_failed(element, e),
        }
    }
}

/// What to do when the model fails on a `tensor`-sized input after it ran on `ran_on` at start.
fn warm_up_remedy(tensor: Size, ran_on: Option<Size>) -> String {
    match ran_on {
        Some(ran) if tensor.width < ran.width || tensor.height < ran.height => format!(
            "it ran on {}x{} at start: give it larger frames (a videoscale before it) or a \
             larger inference-scale",
            ran.width, ran.height
        ),
        _ => "check the sizes the model takes (property size-multiple) or run it smaller \
              (property inference-scale)"
            .to_owned(),
    }
}

/// Posts the error of a failed frame (in its kind's domain) and returns the flow error that
/// stops the stream.
pub fn stream_error(element: &gst::Element, error: &Error) -> gst::FlowError {
    super::post_error(element, error);
    gst::FlowError::Error
}

/// Pipelined frames: the schedule starts an inference without waiting, and waits for it later.
impl<T: Task, E: Send> Inference for ElementCore<T, E> {
    fn start(&self, element: &gst::Element, frame: &gst::BufferRef) -> Result<(), gst::FlowError> {
        let mut state = self.lock();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (info, _) = state.caps()?;
        state.frames += 1;
        live::start_frame_inference(element, &mut state.runner, &mut state.input, &info, frame)
            .or_else(|e| state.inference_failed(element, e))
    }

    fn wait(&self, element: &gst::Element) -> Result<(), gst::FlowError> {
        let mut state = self.lock();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        state
            .runner
            .finish()
            .or_else(|e| state.inference_failed(element, e))
    }

    fn is_idle(&self) -> bool {
        self.lock().as_ref().is_none_or(|s| s.runner.is_idle())
    }
}
