// SPDX-License-Identifier: MIT OR Apache-2.0
//! Real time on live feeds: which frames to infer, and when each leaves the element.
//!
//! - **QoS that counts our own processing time.** A synchronised sink renders a buffer of
//!   running time R at clock running time R + L (L: the pipeline latency and the sink's render
//!   delay). Its QoS events tell L: an event about a buffer of running time `ts` that was `diff`
//!   late, received at running time `now`, means L = now - ts - max(diff, 0) (early buffers
//!   waited until their render time). A frame that would leave the element after R + L is
//!   dropped before inference, and posted as a QoS message, as BaseTransform does. The
//!   elements take the QoS events themselves (BaseTransform's own rule, which drops only the
//!   buffers already late on arrival, then never fires).
//! - **Pipelining on live sources.** Through a synchronised sink a single streaming thread
//!   waits for each frame's render time, so frames that take longer than a frame interval
//!   would be rendered only at every second, third... frame slot. On a live source, when
//!   inference takes longer than 3/4 of a frame interval, frame N is inferred on the
//!   inference thread while frame N-1 goes downstream (each frame still carries its own
//!   result, one frame interval later); the latency reported grows by that interval.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_transform::GenerateOutputSuccess;
use gst_base::subclass::prelude::*;

use super::latency::ReportedLatency;

static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "onnxlive",
        gst::DebugColorFlags::empty(),
        Some("Frame scheduling of the ONNX elements (QoS, pipelining)"),
    )
});

/// Pipelined when inference takes longer than this share of a frame interval.
const PIPELINE_FROM: f64 = 0.75;

/// What the next frame costs an element, as it tells the schedule.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameCost {
    /// How long the frame waits for inference before it can leave (0 when it does not wait:
    /// non-blocking mode, or a frame `interval` skips).
    pub inference: Duration,
    /// Whether its inference may overlap with pushing the previous frame (default mode,
    /// `interval` 1).
    pub can_pipeline: bool,
}

impl FrameCost {
    /// The cost of frame number `frames` (counted from 0) of an element with these settings,
    /// from the last inference's duration.
    pub fn of<T: crate::inference::Task>(
        runner: &crate::inference::Runner<T>,
        frames: u64,
        interval: u32,
        non_blocking: bool,
    ) -> Self {
        let due = super::analysis::inference_due(frames, interval);
        Self {
            inference: if due && !non_blocking {
                runner.last_duration()
            } else {
                Duration::ZERO
            },
            can_pipeline: !non_blocking && interval == 1,
        }
    }
}

/// Starts the inference of `frame` (laid out as `info` says) on the runner's thread, moving
/// the runner to a thread of its own the first time.
pub fn start_frame_inference<T: crate::inference::Task>(
    element: &gst::Element,
    runner: &mut crate::inference::Runner<T>,
    input: &mut crate::inference::TensorInput,
    info: &gst_video::VideoInfo,
    frame: &gst::BufferRef,
) -> Result<(), crate::inference::Error> {
    use crate::inference::Error;
    let mapped = gst_video::VideoFrameRef::from_buffer_ref_readable(frame, info)
        .map_err(|_| Error::inference("cannot map the frame"))?;
    let image = super::analysis::image_ref(&mapped, info)
        .map_err(|_| Error::inference("cannot read the frame"))?;
    runner.move_to_thread(&format!("{}:infer", element.name()))?;
    runner.start_frame(input, &image)
}

/// How the element's transform treats the frame it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Infer on this frame (when due) and draw the newest result.
    Infer,
    /// This frame's inference already ran (pipelined): draw the newest result only.
    DrawHeld,
}

/// An element whose frames the schedule drives.
pub trait Scheduled: BaseTransformImpl + BaseTransformImplExt + ObjectSubclass
where
    <Self as ObjectSubclass>::ParentType: IsA<gst_base::BaseTransform>,
{
    fn schedule(&self) -> &Schedule;
    /// What the next frame will cost (see [`FrameCost`]).
    fn frame_cost(&self) -> FrameCost;
    /// The element's inference, which the schedule starts and waits for.
    fn inference(&self) -> &dyn Inference;
}

/// The inference of an element, as the schedule drives it (the element core provides it).
pub trait Inference {
    /// Starts inference on `frame` on the inference thread without waiting for it.
    fn start(&self, element: &gst::Element, frame: &gst::BufferRef) -> Result<(), gst::FlowError>;
    /// Waits for the inference in flight.
    fn wait(&self, element: &gst::Element) -> Result<(), gst::FlowError>;
    /// Whether no inference is in flight.
    fn is_idle(&self) -> bool;
}

/// An element's frame schedule: QoS and pipelining state, counters, and its reported latency
/// (see the module docs).
#[derive(Debug, Default)]
pub struct Schedule {
    inner: Mutex<Inner>,
    /// Read by the element's transform (set around BaseTransform's generate_output).
    drawing_held: AtomicBool,
    latency: ReportedLatency,
}

#[derive(Debug, Default)]
struct Inner {
    /// L (see the module docs) from the sink's QoS events, in nanoseconds.
    render_offset: RenderOffset,
    proportion: f64,
    processed: u64,
    dropped: u64,
    /// A frame was dropped: the next output starts a discontinuity.
    discont: bool,
    /// Upstream is live (pipelining is considered only then).
    live: bool,
    /// From the caps' framerate, else the spacing of timestamps.
    frame_interval: Option<Duration>,
    last_running_time: Option<gst::ClockTime>,
    pipelined: bool,
    /// What the frame last submitted costs (asked of the element once per frame).
    cost: FrameCost,
    /// Measured: a frame inferred and drawn on the streaming thread (EWMA, ns).
    sync_time: f64,
    /// Measured, pipelined: the streaming thread's own work per frame, drawing the held frame
    /// and preparing the next (EWMA, ns).
    chain_time: f64,
    /// The frame whose inference is in flight (pipelined), and when it started.
    held: Option<(gst::Buffer, gst::ClockTime)>,
    /// Outputs made, waiting for BaseTransform to ask for them.
    ready: VecDeque<gst::Buffer>,
}

impl Schedule {
    /// The latency this element reports in LATENCY queries.
    pub fn latency(&self) -> &ReportedLatency {
        &self.latency
    }

    /// Whether the transform in progress draws a held frame (its inference already ran).
    pub fn phase(&self) -> Phase {
        if self.drawing_held.load(Ordering::Relaxed) {
            Phase::DrawHeld
        } else {
            Phase::Infer
        }
    }

    /// Forgets everything (at start and stop).
    pub fn reset(&self) {
        *self.lock() = Inner::default();
        self.latency.reset();
    }

    /// At caps time: whether upstream is live, the frame interval, and the latency to report
    /// for `inference` (one frame interval more where frames will be pipelined).
    pub fn configure(
        &self,
        element: &gst::Element,
        cat: gst::DebugCategory,
        framerate: gst::Fraction,
        inference: Duration,
        can_pipeline: bool,
    ) {
        let live = upstream_is_live(element);
        let interval = (framerate.numer() > 0 && framerate.denom() > 0).then(|| {
            Duration::from_nanos(
                (1_000_000_000u128 * framerate.denom() as u128 / framerate.numer() as u128)
                    .min(u64::MAX as u128) as u64,
            )
        });
        let extra = {
            let mut inner = self.lock();
            inner.live = live;
            inner.frame_interval = interval;
            inner.last_running_time = None;
            inner.pipelined = live && can_pipeline && slower_than(inference, interval);
            inner.pipelined.then_some(interval).flatten()
        };
        gst::debug!(
            cat,
            obj = element,
            "live upstream: {live}; frame interval {interval:?}; inference {inference:?}; \
             pipelined: {}",
            extra.is_some()
        );
        self.latency
            .update(element, cat, inference + extra.unwrap_or_default());
    }

    /// Takes a QoS event (recording what it says of the sink's schedule) and forwards it
    /// upstream; other events are handed back.
    pub fn src_event(
        &self,
        element: &gst_base::BaseTransform,
        event: gst::Event,
    ) -> Result<bool, gst::Event> {
        match event.view() {
            gst::EventView::Qos(qos) => {
                let (kind, proportion, diff, timestamp) = qos.get();
                let now = element.current_running_time();
                if kind != gst::QOSType::Throttle
                    && let (Some(now), Some(ts)) = (now, timestamp)
                {
                    let offset = now.nseconds() as i64 - ts.nseconds() as i64 - diff.max(0);
                    let mut inner = self.lock();
                    inner.proportion = proportion;
                    inner.render_offset.record(offset);
                }
                Ok(element
                    .static_pad("sink")
                    .is_some_and(|pad| pad.push_event(event)))
            }
            gst::EventView::Latency(_) => {
                // A new pipeline latency: the sink's offset changes with it.
                self.lock().render_offset = RenderOffset::default();
                Err(event)
            }
            _ => Err(event),
        }
    }

    /// Before a serialized event goes on: a held frame goes out first (EOS, caps, segment,
    /// gap); a flush forgets it.
    pub fn sink_event<E: Scheduled>(&self, imp: &E, event: &gst::Event) -> Result<(), String>
    where
        <E as ObjectSubclass>::ParentType: IsA<gst_base::BaseTransform>,
    {
        match event.view() {
            gst::EventView::FlushStart(_) | gst::EventView::FlushStop(_) => {
                let mut inner = self.lock();
                inner.held = None;
                inner.ready.clear();
                inner.render_offset = RenderOffset::default();
                Ok(())
            }
            gst::EventView::Eos(_)
            | gst::EventView::Caps(_)
            | gst::EventView::Segment(_)
            | gst::EventView::Gap(_) => {
                let held = self.lock().held.take();
                let Some((held, _)) = held else {
                    return Ok(());
                };
                imp.inference()
                    .wait(imp.obj().upcast_ref())
                    .map_err(|e| format!("the last inference failed: {e:?}"))?;
                let drawn = render(imp, held, Phase::DrawHeld)
                    .map_err(|e| format!("the last frame could not be drawn: {e:?}"))?;
                let mut outputs: Vec<gst::Buffer> = self.lock().ready.drain(..).collect();
                outputs.extend(drawn);
                let src = imp
                    .obj()
                    .static_pad("src")
                    .ok_or("the element has no src pad")?;
                for out in outputs {
                    src.push(out)
                        .map_err(|e| format!("the last frame could not be pushed: {e:?}"))?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The BaseTransform vfuncs through which the schedule drives an element whose
/// `ElementCore` is the field `core`: QoS events (`src_event`), dropping late frames
/// (`submit_input_buffer`) and pipelining (`generate_output`). Expands inside the element's
/// `impl BaseTransformImpl`.
macro_rules! scheduled_transform_vfuncs {
    () => {
        fn src_event(&self, event: gst::Event) -> bool {
            match self.core.schedule.src_event(self.obj().upcast_ref(), event) {
                Ok(handled) => handled,
                Err(event) => self.parent_src_event(event),
            }
        }

        fn submit_input_buffer(
            &self,
            is_discont: bool,
            inbuf: gst::Buffer,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            $crate::common::live::submit_input_buffer(self, is_discont, inbuf)
        }

        fn generate_output(
            &self,
        ) -> Result<gst_base::subclass::base_transform::GenerateOutputSuccess, gst::FlowError> {
            $crate::common::live::generate_output(self)
        }
    };
}
pub(crate) use scheduled_transform_vfuncs;

/// BaseTransform's submit_input_buffer: drops a frame that would reach the sink too late,
/// else queues it as BaseTransform does.
pub fn submit_input_buffer<E: Scheduled>(
    imp: &E,
    is_discont: bool,
    inbuf: gst::Buffer,
) -> Result<gst::FlowSuccess, gst::FlowError>
where
    <E as ObjectSubclass>::ParentType: IsA<gst_base::BaseTransform>,
{
    let element = imp.obj();
    let element: &gst_base::BaseTransform = element.upcast_ref();
    let schedule = imp.schedule();
    let segment = element.segment();
    let segment = segment.downcast_ref::<gst::format::Time>();
    let running_time = segment.and_then(|s| s.to_running_time(inbuf.pts()));
    let cost = imp.frame_cost();
    let lateness = {
        let mut inner = schedule.lock();
        inner.note_spacing(running_time, inbuf.duration());
        let frame = cost
            .inference
            .max(Duration::from_nanos(inner.sync_time as u64));
        inner.pipelined = inner.live && cost.can_pipeline && inner.slower(frame);
        inner.cost = cost;
        inner.lateness(running_time, element.current_running_time(), cost.inference)
    };
    match lateness {
        Some(late) if element.is_qos() && late > 0 => {
            let stats = {
                let mut inner = schedule.lock();
                inner.dropped += 1;
                inner.discont = true;
                (inner.processed, inner.dropped, inner.proportion)
            };
            let stream_time = segment.and_then(|s| s.to_stream_time(inbuf.pts()));
            let message = gst::message::Qos::builder(false)
                .running_time(running_time)
                .stream_time(stream_time)
                .timestamp(inbuf.pts())
                .duration(inbuf.duration())
                .values(late, stats.2, 1_000_000)
                .stats(
                    gst::format::Buffers::from_u64(stats.0),
                    gst::format::Buffers::from_u64(stats.1),
                )
                .src(element)
                .build();
            let _ = element.post_message(message);
            // Nothing is queued; generate_output may still send a held frame whose result is in.
            Ok(gst::FlowSuccess::Ok)
        }
        _ => imp.parent_submit_input_buffer(is_discont, inbuf),
    }
}

/// BaseTransform's generate_output: the frame queued by [`submit_input_buffer`] is inferred
/// and drawn at once, or (pipelined) started, while the frame held before goes out.
pub fn generate_output<E: Scheduled>(imp: &E) -> Result<GenerateOutputSuccess, gst::FlowError>
where
    <E as ObjectSubclass>::ParentType: IsA<gst_base::BaseTransform>,
{
    let schedule = imp.schedule();
    if let Some(out) = schedule.lock().ready.pop_front() {
        return Ok(GenerateOutputSuccess::Buffer(out));
    }
    let queued = imp.take_queued_buffer();
    let (pipelined, cost, held) = {
        let mut inner = schedule.lock();
        let (pipelined, cost) = (inner.pipelined, inner.cost);
        // A held frame goes out when a new frame comes, or when its result is already in.
        let release = inner.held.is_some() && (queued.is_some() || imp.inference().is_idle());
        let held = if release { inner.held.take() } else { None };
        (pipelined, cost, held)
    };
    // Outputs wait in `ready` (kept allocated) for BaseTransform to ask for them.
    let element = imp.obj();
    let element: &gst::Element = element.upcast_ref();
    let mut chain_work = Duration::ZERO;
    if let Some((held, _)) = held {
        imp.inference().wait(element)?;
        let start = std::time::Instant::now();
        let drawn = render(imp, held, Phase::DrawHeld)?;
        chain_work += start.elapsed();
        schedule.lock().ready.extend(drawn);
    }
    if let Some(frame) = queued {
        let start = std::time::Instant::now();
        if pipelined {
            let started = element.current_running_time().unwrap_or_default();
            imp.inference().start(element, &frame)?;
            chain_work += start.elapsed();
            let mut inner = schedule.lock();
            inner.held = Some((frame, started));
            inner.chain_time = ewma(inner.chain_time, chain_work);
            let pipelined_latency = cost.inference
                + Duration::from_nanos(inner.chain_time as u64)
                + inner.frame_interval.unwrap_or_default();
            drop(inner);
            schedule.latency.update(element, *CAT, pipelined_latency);
        } else {
            let drawn = render(imp, frame, Phase::Infer)?;
            let took = start.elapsed();
            let mut inner = schedule.lock();
            inner.ready.extend(drawn);
            // Frames that do not wait for inference (non-blocking, skipped by `interval`) add
            // only their drawing, which the margin of the reported latency covers.
            let waits = cost.inference > Duration::ZERO;
            if waits {
                inner.sync_time = ewma(inner.sync_time, took);
            }
            drop(inner);
            if waits {
                schedule.latency.update(element, *CAT, took);
            }
        }
    }
    let mut inner = schedule.lock();
    Ok(match inner.ready.pop_front() {
        Some(out) => GenerateOutputSuccess::Buffer(out),
        None => GenerateOutputSuccess::NoOutput,
    })
}

/// Runs BaseTransform's own output step on `frame` (buffer allocation, the element's
/// transform) in `phase`, and marks a discontinuity after drops.
fn render<E: Scheduled>(
    imp: &E,
    frame: gst::Buffer,
    phase: Phase,
) -> Result<Option<gst::Buffer>, gst::FlowError>
where
    <E as ObjectSubclass>::ParentType: IsA<gst_base::BaseTransform>,
{
    let schedule = imp.schedule();
    imp.parent_submit_input_buffer(false, frame)?;
    schedule
        .drawing_held
        .store(phase == Phase::DrawHeld, Ordering::Relaxed);
    let generated = imp.parent_generate_output();
    schedule.drawing_held.store(false, Ordering::Relaxed);
    let GenerateOutputSuccess::Buffer(mut out) = generated? else {
        return Ok(None);
    };
    let mut inner = schedule.lock();
    inner.processed += 1;
    if std::mem::take(&mut inner.discont) {
        out.make_mut().set_flags(gst::BufferFlags::DISCONT);
    }
    Ok(Some(out))
}

impl Inner {
    fn slower(&self, inference: Duration) -> bool {
        slower_than(inference, self.frame_interval)
    }

    /// Learns the frame interval from timestamps where the caps do not give it.
    fn note_spacing(
        &mut self,
        running_time: Option<gst::ClockTime>,
        duration: Option<gst::ClockTime>,
    ) {
        if let (Some(now), Some(last)) = (running_time, self.last_running_time)
            && self.frame_interval.is_none()
        {
            let spacing = duration.map_or(now.saturating_sub(last), |d| d);
            if !spacing.is_zero() {
                self.frame_interval = Some(spacing.into());
            }
        }
        self.last_running_time = running_time.or(self.last_running_time);
    }

    /// How late (ns) a frame of `running_time` would reach the sink if taken now, `now` being
    /// the clock's running time and `inference` what it waits for inference; None when the
    /// sink has not said when it renders.
    fn lateness(
        &self,
        running_time: Option<gst::ClockTime>,
        now: Option<gst::ClockTime>,
        inference: Duration,
    ) -> Option<i64> {
        let offset = self.render_offset.get()?;
        let (running_time, now) = (running_time?.nseconds() as i64, now?.nseconds() as i64);
        let inference = inference.as_nanos().min(i64::MAX as u128) as i64;
        let leaves = match (&self.held, self.pipelined) {
            // Pipelined: the inference in flight finishes first, then this one; the streaming
            // thread's own work comes on top.
            (held, true) => {
                let free = held.as_ref().map_or(now, |(_, started)| {
                    now.max((started.nseconds() as i64).saturating_add(inference))
                });
                free.saturating_add(inference)
                    .saturating_add(self.chain_time as i64)
            }
            (_, false) if inference > 0 => now.saturating_add(inference.max(self.sync_time as i64)),
            _ => now,
        };
        Some(leaves - running_time.saturating_add(offset))
    }
}

/// The smallest of the last few estimates of L: each QoS event over-estimates it by the time
/// the sink took to render and to send the event, never under-estimates it, and the window
/// follows a change of the pipeline latency within a few frames even where no LATENCY event
/// passes the element.
#[derive(Debug, Default)]
struct RenderOffset {
    recent: [Option<i64>; 8],
    next: usize,
}

impl RenderOffset {
    fn record(&mut self, offset: i64) {
        self.recent[self.next] = Some(offset);
        self.next = (self.next + 1) % self.recent.len();
    }

    fn get(&self) -> Option<i64> {
        self.recent.iter().flatten().min().copied()
    }
}

/// An exponentially weighted moving average (weight 1/4 for the new sample; the first
/// sample alone).
fn ewma(average: f64, sample: Duration) -> f64 {
    let sample = sample.as_nanos() as f64;
    if average == 0.0 {
        sample
    } else {
        average + (sample - average) / 4.0
    }
}

fn slower_than(inference: Duration, frame_interval: Option<Duration>) -> bool {
    frame_interval.is_some_and(|f| inference.as_secs_f64() > PIPELINE_FROM * f.as_secs_f64())
}

/// Asks upstream whether it is live.
fn upstream_is_live(element: &gst::Element) -> bool {
    let mut query = gst::query::Latency::new();
    element
        .static_pad("sink")
        .is_some_and(|pad| pad.peer_query(&mut query))
        && query.result().0
}
