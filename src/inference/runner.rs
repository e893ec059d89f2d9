// SPDX-License-Identifier: MIT OR Apache-2.0
//! Runs a model either on the caller's thread (blocking: each frame waits for its own result)
//! or on a thread of its own (non-blocking: frames keep flowing and each is combined with the
//! newest finished result, as DL Streamer's no-block mode does).
//!
//! A [`Task`] turns the model's raw output into a result at model resolution (a decoded image,
//! a class map, an error map); the element draws that result into each frame. Results carry a
//! generation number so that drawing can cache what it derives from a result.

use super::error::{Error, checked_tensor_len};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::convert::ImageRef;
use super::session::{InferenceSession, RunOutput};
use super::tensor_input::{TensorInput, TensorLayout};

/// What an element makes of the model's output.
pub trait Task: Send + 'static {
    /// The result, kept between inferences and reused (no allocation once sized).
    type Output: Default + Send + 'static;

    /// Turns `run` (the input the model saw and its first output) into `out`; `layout` says
    /// where the frame lay in the input tensor.
    fn read(
        &mut self,
        run: &RunOutput,
        layout: TensorLayout,
        out: &mut Self::Output,
    ) -> Result<(), Error>;

    /// The outputs `read` needs, by name: the main one and a second one (see
    /// [`InferenceSession::read_outputs`]); None: the model's first output.
    fn outputs(&self) -> Option<(&str, Option<&str>)> {
        None
    }
}

/// The newest result: its generation counts finished inferences (0: none yet).
pub struct Latest<'a, O> {
    /// The result of the latest finished inference.
    pub output: &'a O,
    /// How many inferences have finished, this one included (1 or more; a new value means a
    /// new result, so what was derived from the previous one is stale).
    pub generation: u64,
}

struct Engine<T: Task> {
    session: InferenceSession,
    task: T,
}

impl<T: Task> Engine<T> {
    /// Runs the model on the tensor `fill` writes and reads the result into `out`.
    fn infer(
        &mut self,
        layout: TensorLayout,
        fill: impl FnOnce(&mut [f32]) -> Result<(), Error>,
        out: &mut T::Output,
    ) -> Result<usize, Error> {
        let size = layout.tensor;
        fill(self.session.input_mut(size.width, size.height)?)?;
        let run = self.session.run()?;
        let non_finite = run.non_finite;
        self.task.read(&run, layout, out)?;
        #[cfg(feature = "fault-injection")]
        crate::inference::fault::inject(&self.session);
        Ok(non_finite)
    }
}

/// Runs a model and keeps the newest result of `T`: on the caller's thread
/// ([`Runner::blocking`]) or on a thread of its own ([`Runner::background`]).
pub struct Runner<T: Task> {
    mode: Mode<T>,
    /// Rebuilds the session for an input size (TensorRT's shape profile), when set.
    rebuild: Option<SessionFactory>,
    /// The input size (width, height) the session was last built for by `rebuild`.
    built_for: Option<(usize, usize)>,
    /// The most bytes one tensor may take (the session's bound).
    max_tensor_bytes: usize,
    /// Results up to this generation are not handed out (a failed frame must not be drawn
    /// with an older frame's result).
    withheld: Option<u64>,
}

/// Builds a session for an input of (width, height).
pub type SessionFactory =
    Box<dyn Fn(usize, usize) -> Result<InferenceSession, Error> + Send + 'static>;

enum Mode<T: Task> {
    Blocking {
        engine: Box<Engine<T>>,
        output: T::Output,
        generation: u64,
        last: Duration,
        non_finite: NonFiniteCounter,
    },
    Background {
        shared: Arc<Shared<T::Output>>,
        worker: Option<JoinHandle<()>>,
        /// The job tensor while no job is in flight.
        tensor: Option<Vec<f32>>,
    },
}

struct Shared<O> {
    slot: Mutex<Slot<O>>,
    non_finite: NonFiniteCounter,
    /// Wakes the worker: a job or stop.
    wake: Condvar,
    /// Wakes [`Runner::finish`]: the worker became idle.
    idle: Condvar,
}

struct Slot<O> {
    job: Option<(Vec<f32>, TensorLayout)>,
    busy: bool,
    /// The job tensor, handed back when the worker is done with it.
    returned: Option<Vec<f32>>,
    output: O,
    generation: u64,
    last: Duration,
    error: Option<Error>,
    /// A session to run from the next job on.
    new_session: Option<InferenceSession>,
    stop: bool,
}

/// Inferences whose output held NaN or infinite values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NonFinite {
    /// How many inferences had some.
    pub inferences: u64,
    /// How many values the latest of them had.
    pub last_count: usize,
}

/// Counts the inferences with NaN or infinite outputs. Atomics, so that the element can read
/// them at every frame without taking the non-blocking slot's lock.
#[derive(Debug, Default)]
struct NonFiniteCounter {
    inferences: AtomicU64,
    last_count: AtomicUsize,
}

impl NonFiniteCounter {
    fn record(&self, count: usize) {
        if count > 0 {
            self.last_count.store(count, Ordering::Relaxed);
            self.inferences.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn add(&self, other: &NonFiniteCounter) {
        let other = other.get();
        if other.inferences > 0 {
            self.last_count.store(other.last_count, Ordering::Relaxed);
            self.inferences
                .fetch_add(other.inferences, Ordering::Relaxed);
        }
    }

    fn get(&self) -> NonFinite {
        NonFinite {
            inferences: self.inferences.load(Ordering::Relaxed),
            last_count: self.last_count.load(Ordering::Relaxed),
        }
    }
}

impl<T: Task> Runner<T> {
    /// Runs on the caller's thread.
    pub fn blocking(session: InferenceSession, task: T) -> Self {
        let max_tensor_bytes = session.max_tensor_bytes();
        Self {
            mode: Mode::Blocking {
                engine: Box::new(Engine { session, task }),
                output: T::Output::default(),
                generation: 0,
                last: Duration::ZERO,
                non_finite: NonFiniteCounter::default(),
            },
            rebuild: None,
            built_for: None,
            max_tensor_bytes,
            withheld: None,
        }
    }

    /// Runs on a thread of its own, named `name`.
    pub fn background(session: InferenceSession, task: T, name: &str) -> Result<Self, Error> {
        let max_tensor_bytes = session.max_tensor_bytes();
        Ok(Self {
            mode: start_worker(Engine { session, task }, name)?,
            rebuild: None,
            built_for: None,
            max_tensor_bytes,
            withheld: None,
        })
    }

    /// Moves a blocking runner's session to a thread of its own, named `name`, so that an
    /// inference can run while the caller does something else ([`Runner::start_frame`]). The
    /// results so far are kept. Does nothing when already on a thread.
    pub fn move_to_thread(&mut self, name: &str) -> Result<(), Error> {
        let Mode::Blocking { .. } = &self.mode else {
            return Ok(());
        };
        // A placeholder while the engine moves. Should the thread not start, the engine is
        // gone and every later submit says so.
        let placeholder = Mode::Background {
            shared: Arc::new(Shared::new(T::Output::default())),
            worker: None,
            tensor: None,
        };
        let Mode::Blocking {
            engine,
            output,
            generation,
            last,
            non_finite,
        } = std::mem::replace(&mut self.mode, placeholder)
        else {
            unreachable!("checked above")
        };
        let (session, task) = (engine.session, engine.task);
        let mode = start_worker(Engine { session, task }, name)?;
        if let Mode::Background { shared, .. } = &mode {
            let mut slot = lock(shared);
            slot.output = output;
            slot.generation = generation;
            slot.last = last;
            shared.non_finite.add(&non_finite);
        }
        self.mode = mode;
        Ok(())
    }
}

impl<O: Default> Shared<O> {
    fn new(output: O) -> Self {
        Self {
            slot: Mutex::new(Slot {
                job: None,
                busy: false,
                returned: None,
                output,
                generation: 0,
                last: Duration::ZERO,
                error: None,
                new_session: None,
                stop: false,
            }),
            non_finite: NonFiniteCounter::default(),
            wake: Condvar::new(),
            idle: Condvar::new(),
        }
    }
}

/// Starts the inference thread for `engine`.
fn start_worker<T: Task>(engine: Engine<T>, name: &str) -> Result<Mode<T>, Error> {
    let shared = Arc::new(Shared::new(T::Output::default()));
    let worker = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(name.chars().take(15).collect())
            .spawn(move || work(engine, &shared))
            .map_err(|e| Error::thread(format!("cannot start the inference thread: {e}")))?
    };
    Ok(Mode::Background {
        shared,
        worker: Some(worker),
        tensor: Some(Vec::new()),
    })
}

impl<T: Task> Runner<T> {
    /// Starts an inference on the tensor `fill` writes for `layout`: at once when blocking,
    /// else hands it to the thread if the thread is idle (returns false when it was busy and
    /// the frame was skipped). An error of the previous background inference is returned here.
    pub fn submit(
        &mut self,
        layout: TensorLayout,
        fill: impl FnOnce(&mut [f32]) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let max_tensor_bytes = self.max_tensor_bytes;
        match &mut self.mode {
            Mode::Blocking {
                engine,
                output,
                generation,
                last,
                non_finite,
            } => {
                let start = Instant::now();
                non_finite.record(engine.infer(layout, fill, output)?);
                *generation += 1;
                *last = start.elapsed();
                Ok(true)
            }
            Mode::Background {
                shared,
                tensor,
                worker,
            } => {
                if worker.is_none() {
                    return Err(Error::thread("the inference thread could not be started"));
                }
                {
                    let mut slot = lock(shared);
                    if let Some(e) = slot.error.take() {
                        return Err(e);
                    }
                    if slot.busy || slot.job.is_some() {
                        return Ok(false);
                    }
                    if let Some(back) = slot.returned.take() {
                        *tensor = Some(back);
                    }
                }
                let mut buffer = tensor.take().expect("idle: the tensor is here");
                let (w, h) = (layout.tensor.width, layout.tensor.height);
                let shape = [1, layout.channels, h, w];
                let len = match checked_tensor_len("the input tensor", &shape, max_tensor_bytes) {
                    Ok(len) => len,
                    Err(e) => {
                        *tensor = Some(buffer);
                        return Err(e);
                    }
                };
                buffer.resize(len, 0.0);
                let filled = fill(&mut buffer);
                if let Err(e) = filled {
                    *tensor = Some(buffer);
                    return Err(e);
                }
                lock(shared).job = Some((buffer, layout));
                shared.wake.notify_one();
                Ok(true)
            }
        }
    }

    /// [`Runner::submit`] for a frame: its tensor, laid out and filled by `input`.
    pub fn submit_frame(
        &mut self,
        input: &mut TensorInput,
        frame: &ImageRef,
    ) -> Result<bool, Error> {
        let layout = input.layout(frame.width, frame.height);
        self.submit(layout, |tensor| input.fill(frame, layout, tensor))
    }

    /// Infers on `frame` and waits for the result, on the caller's thread or on the
    /// inference thread (after the inference in flight, if any).
    pub fn run_frame(&mut self, input: &mut TensorInput, frame: &ImageRef) -> Result<(), Error> {
        self.start_frame(input, frame)?;
        self.finish()
    }

    /// Starts an inference on `frame` without waiting for its result when on a thread (the
    /// inference in flight, if any, is waited for first); at once when blocking. The result
    /// is the newest once [`Runner::finish`] returns.
    pub fn start_frame(&mut self, input: &mut TensorInput, frame: &ImageRef) -> Result<(), Error> {
        self.finish()?;
        let started = self.submit_frame(input, frame)?;
        debug_assert!(started, "the thread was idle");
        Ok(())
    }

    /// Whether no inference is in flight (its result, if any, is the newest).
    pub fn is_idle(&self) -> bool {
        match &self.mode {
            Mode::Blocking { .. } => true,
            Mode::Background { shared, .. } => {
                let slot = lock(shared);
                !slot.busy && slot.job.is_none()
            }
        }
    }

    /// Hands the newest result to `use_result` (None before the first one finishes, and
    /// while [`Runner::withhold_result`] holds it back). A failed background inference is
    /// left for [`Runner::take_error`], [`Runner::submit`] or [`Runner::finish`] to report.
    pub fn with_latest<R>(&self, use_result: impl FnOnce(Option<Latest<'_, T::Output>>) -> R) -> R {
        let withheld = self.withheld.unwrap_or(0);
        let latest =
            |output, generation| (generation > withheld).then_some(Latest { output, generation });
        match &self.mode {
            Mode::Blocking {
                output, generation, ..
            } => use_result(latest(output, *generation)),
            Mode::Background { shared, .. } => {
                let slot = lock(shared);
                use_result(latest(&slot.output, slot.generation))
            }
        }
    }

    /// The error of a background inference that failed since the last call, if any.
    pub fn take_error(&self) -> Option<Error> {
        match &self.mode {
            Mode::Blocking { .. } => None,
            Mode::Background { shared, .. } => lock(shared).error.take(),
        }
    }

    /// How many inferences have finished (the newest result's generation).
    pub fn generation(&self) -> u64 {
        match &self.mode {
            Mode::Blocking { generation, .. } => *generation,
            Mode::Background { shared, .. } => lock(shared).generation,
        }
    }

    /// Holds the newest result back until a newer one finishes: a frame whose inference
    /// failed goes on without a result rather than with an older frame's.
    pub fn withhold_result(&mut self) {
        self.withheld = Some(self.generation());
    }

    /// Whether the newest result is held back (no inference has finished since the last
    /// [`Runner::withhold_result`]).
    pub fn result_withheld(&self) -> bool {
        self.withheld.is_some_and(|w| self.generation() <= w)
    }

    /// Prepares for frames of `layout` ahead of the first one: binds the tensors and runs one
    /// inference on a blank input, timed (the latency a blocking element adds). Leaves the
    /// results alone; does nothing in background mode, where frames do not wait.
    pub fn warm_up(&mut self, layout: TensorLayout) -> Result<Duration, Error> {
        self.rebuild_for(layout)?;
        let Mode::Blocking { engine, .. } = &mut self.mode else {
            return Ok(Duration::ZERO);
        };
        let size = layout.tensor;
        engine.session.input_mut(size.width, size.height)?;
        let mut scratch = T::Output::default();
        let start = Instant::now();
        engine.infer(
            layout,
            |tensor| {
                tensor.fill(0.0);
                Ok(())
            },
            &mut scratch,
        )?;
        Ok(start.elapsed())
    }

    /// Rebuilds the session with `factory` whenever [`Runner::warm_up`] sees a new input size
    /// (TensorRT builds its engine for the exact size the caps give).
    pub fn rebuild_per_size(&mut self, factory: SessionFactory) {
        self.rebuild = Some(factory);
        self.built_for = None;
    }

    fn rebuild_for(&mut self, layout: TensorLayout) -> Result<(), Error> {
        let size = (layout.tensor.width, layout.tensor.height);
        let Some(factory) = &self.rebuild else {
            return Ok(());
        };
        if self.built_for == Some(size) {
            return Ok(());
        }
        let session = factory(size.0, size.1)?;
        match &mut self.mode {
            Mode::Blocking { engine, .. } => engine.session = session,
            Mode::Background { shared, .. } => {
                lock(shared).new_session = Some(session);
            }
        }
        self.built_for = Some(size);
        Ok(())
    }

    /// The inferences so far whose output held NaN or infinite values.
    pub fn non_finite(&self) -> NonFinite {
        match &self.mode {
            Mode::Blocking { non_finite, .. } => non_finite.get(),
            Mode::Background { shared, .. } => shared.non_finite.get(),
        }
    }

    /// Waits for the inference in flight, if any (non-blocking mode), and returns its error:
    /// at EOS, a failure of the last inferences must not go unreported.
    pub fn finish(&self) -> Result<(), Error> {
        let Mode::Background { shared, .. } = &self.mode else {
            return Ok(());
        };
        let mut slot = lock(shared);
        while slot.busy || slot.job.is_some() {
            slot = shared.idle.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
        slot.error.take().map_or(Ok(()), Err)
    }

    /// How long the last inference took (pre-processing, model, reading the output).
    pub fn last_duration(&self) -> Duration {
        match &self.mode {
            Mode::Blocking { last, .. } => *last,
            Mode::Background { shared, .. } => lock(shared).last,
        }
    }
}

impl<T: Task> Drop for Runner<T> {
    fn drop(&mut self) {
        if let Mode::Background { shared, worker, .. } = &mut self.mode {
            lock(shared).stop = true;
            shared.wake.notify_all();
            if let Some(worker) = worker.take() {
                // The worker finishes its current inference, if any, then returns.
                let _ = worker.join();
            }
        }
    }
}

fn lock<O>(shared: &Shared<O>) -> MutexGuard<'_, Slot<O>> {
    // A poisoned lock only means a panic elsewhere; the slot's fields stay consistent.
    shared.slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a panic said, when it said it with a string (as `panic!` does).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// The background thread: waits for a job, runs it, publishes the result.
fn work<T: Task>(mut engine: Engine<T>, shared: &Shared<T::Output>) {
    let mut scratch = T::Output::default();
    loop {
        let (tensor, layout) = {
            let mut slot = lock(shared);
            loop {
                if slot.stop {
                    return;
                }
                if let Some(session) = slot.new_session.take() {
                    engine.session = session;
                }
                if let Some(job) = slot.job.take() {
                    slot.busy = true;
                    break job;
                }
                slot = shared.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
        };
        let start = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.infer(
                layout,
                |dst| {
                    dst.copy_from_slice(&tensor);
                    Ok(())
                },
                &mut scratch,
            )
        }))
        .unwrap_or_else(|panic| {
            Err(Error::inference(format!(
                "the inference thread panicked: {}",
                panic_text(&*panic)
            )))
        });
        let mut slot = lock(shared);
        slot.busy = false;
        slot.returned = Some(tensor);
        match result {
            Ok(non_finite) => {
                std::mem::swap(&mut slot.output, &mut scratch);
                shared.non_finite.record(non_finite);
                slot.generation += 1;
                slot.last = start.elapsed();
            }
            Err(e) => slot.error = Some(e),
        }
        drop(slot);
        shared.idle.notify_all();
    }
}
