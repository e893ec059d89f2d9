// SPDX-License-Identifier: MIT OR Apache-2.0
//! End-to-end benchmark runs, one measurement per process (so that peak RSS is its own), as
//! benches/pipeline.sh drives them. Prints one CSV line:
//! `runner,model,config,width,height,frames,fps,latency_ms,peak_rss_mb`.
//!
//!     cargo run --release --example bench -- ort --model models/style_mosaic.onnx
//!     cargo run --release --example bench -- element --model models/style_mosaic.onnx \
//!         --element onnxstyletransfer --props "inference-scale=0.5"
//!     cargo run --release --example bench -- soak --model ... --element ... --frames 10000
//!     cargo run --release --example bench -- stats --model models/style_mosaic.onnx \
//!         --element onnxstyletransfer --source "videotestsrc is-live=true ! videoconvert" \
//!         --sink "fakesink sync=true qos=true max-lateness=20000000"
//!
//! `ort`: ONNX Runtime alone, the Rust session on a preallocated input (the floor).
//! `element`: `videotestsrc ! element ! fakesink` as fast as it goes; latency is the time a
//! frame spends inside the element. `soak`: RSS after every 10% of a long run. `stats`:
//! `SOURCE ! element ! SINK` from gst-launch descriptions, measured by the sink's own counters
//! (rendered, dropped) and latency; prints one JSON line (benches/live.sh drives it).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use gst::prelude::*;
use gst_video::prelude::*;
use gstautoencoder::inference::model::PreprocessingOverrides;
use gstautoencoder::inference::{
    InferenceSession, Preprocessing, SessionConfig, TensorInput, ValueRange,
};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(clap::Args, Clone)]
struct Common {
    #[arg(long)]
    model: PathBuf,
    #[arg(long, default_value_t = 640)]
    width: usize,
    #[arg(long, default_value_t = 360)]
    height: usize,
    /// Element properties, `name=value` separated by spaces (the same for `ort`, which reads
    /// inference-scale, input-range and threads from them).
    #[arg(long, default_value = "")]
    props: String,
    /// A label for the CSV line (default: the props).
    #[arg(long)]
    config: Option<String>,
}

#[derive(Subcommand)]
enum Mode {
    /// ONNX Runtime alone on a preallocated input.
    Ort {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[arg(long, default_value_t = false)]
        spinning: bool,
    },
    /// The element between videotestsrc and fakesink, unsynchronised.
    Element {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        element: String,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// Writes the benchmark's source frame as packed RGB (for the Python comparison).
    Frame {
        #[arg(long, default_value_t = 640)]
        width: usize,
        #[arg(long, default_value_t = 360)]
        height: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// A long run printing RSS along the way.
    Soak {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        element: String,
        #[arg(long, default_value_t = 10_000)]
        frames: u64,
    },
    /// `SOURCE ! element ! SINK`: the sink's counts and latency over a window, as JSON.
    Stats(StatsArgs),
}

fn main() -> Result<()> {
    match Args::parse().mode {
        Mode::Ort {
            common,
            seconds,
            spinning,
        } => ort_alone(&common, seconds, spinning),
        Mode::Element {
            common,
            element,
            seconds,
        } => element_run(&common, &element, seconds),
        Mode::Soak {
            common,
            element,
            frames,
        } => soak(&common, &element, frames),
        Mode::Frame { width, height, out } => Ok(std::fs::write(out, test_frame(width, height)?)?),
        Mode::Stats(args) => sink_stats(&args),
    }
}

fn props(common: &Common) -> HashMap<String, String> {
    common
        .props
        .split_whitespace()
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn print_line(runner: &str, common: &Common, frames: u64, fps: f64, latency: Option<Duration>) {
    let config = common
        .config
        .clone()
        .unwrap_or_else(|| common.props.clone());
    println!(
        "{runner},{},{},{},{},{frames},{fps:.2},{},{:.1}",
        common
            .model
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy(),
        config.replace(',', ";"),
        common.width,
        common.height,
        latency.map_or(String::new(), |l| format!("{:.2}", l.as_secs_f64() * 1e3)),
        peak_rss_mb()
    );
}

/// VmHWM of this process, in MiB.
fn peak_rss_mb() -> f64 {
    status_kib("VmHWM:") / 1024.0
}

fn rss_mb() -> f64 {
    status_kib("VmRSS:") / 1024.0
}

fn status_kib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

fn ort_alone(common: &Common, seconds: f64, spinning: bool) -> Result<()> {
    let props = props(common);
    let threads = props.get("threads").map_or(Ok(0), |t| t.parse())?;
    let config = SessionConfig {
        threads,
        intra_op_spinning: spinning,
        ..SessionConfig::default()
    };
    let mut session = InferenceSession::load(&common.model, &config).map_err(|e| anyhow!(e))?;
    let overrides = PreprocessingOverrides {
        input_range: match props.get("input-range").map(String::as_str) {
            Some("0-255") => Some(ValueRange::Byte),
            Some("0-1") => Some(ValueRange::Unit),
            _ => None,
        },
        ..PreprocessingOverrides::default()
    };
    let pre = Preprocessing::resolve(&session.description().metadata, &overrides)
        .map_err(|e| anyhow!(e))?;
    let scale = props
        .get("inference-scale")
        .map_or(Ok(1.0), |s| s.parse())?;
    let session_input = session.description().input.clone();
    let layout = TensorInput::new(&session_input, &pre, scale).layout(common.width, common.height);
    let (h, w) = (layout.tensor.height, layout.tensor.width);
    // The input is the frame the element benchmark sees (the speed of the maths can depend on
    // the values: subnormals), made into a tensor the way the element makes it (not timed).
    let frame = test_frame(common.width, common.height)?;
    let image = gstautoencoder::inference::ImageRef {
        data: &frame,
        width: common.width,
        height: common.height,
        stride: common.width * 3,
        layout: gstautoencoder::inference::PixelLayout::RGB,
    };
    let input = session.input_mut(w, h).map_err(|e| anyhow!(e))?;
    TensorInput::new(&session_input, &pre, scale)
        .fill(&image, layout, input)
        .map_err(|e| anyhow!(e))?;
    session.run().map_err(|e| anyhow!(e))?; // warm-up
    let start = Instant::now();
    let mut frames = 0u64;
    while frames < 3 || start.elapsed().as_secs_f64() < seconds {
        session.run().map_err(|e| anyhow!(e))?;
        frames += 1;
    }
    let elapsed = start.elapsed();
    print_line(
        if spinning { "ort-spinning" } else { "ort" },
        common,
        frames,
        frames as f64 / elapsed.as_secs_f64(),
        Some(elapsed / frames as u32),
    );
    Ok(())
}

/// The first frame of the element benchmark's source, packed RGB.
fn test_frame(width: usize, height: usize) -> Result<Vec<u8>> {
    gst::init()?;
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc pattern=ball num-buffers=1 ! \
         video/x-raw,format=RGB,width={width},height={height} ! appsink name=frames"
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow!("not a pipeline"))?;
    let sink = pipeline
        .by_name("frames")
        .context("appsink")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| anyhow!("not an appsink"))?;
    pipeline.set_state(gst::State::Playing)?;
    let sample = sink.pull_sample().context("no frame")?;
    pipeline.set_state(gst::State::Null)?;
    let info = gst_video::VideoInfo::from_caps(sample.caps().context("caps")?)?;
    let buffer = sample.buffer().context("buffer")?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|_| anyhow!("cannot map the frame"))?;
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0)?;
    Ok((0..height)
        .flat_map(|y| &data[y * stride..y * stride + width * 3])
        .copied()
        .collect())
}

/// Times each buffer from the element's sink pad to its source pad.
#[derive(Default)]
struct Timings {
    entered: HashMap<u64, Instant>,
    inside: Vec<Duration>,
    out: Vec<Instant>,
}

fn launch(
    common: &Common,
    element: &str,
    frames: Option<u64>,
) -> Result<(gst::Pipeline, gst::Element)> {
    gst::init()?;
    gstautoencoder::plugin_register_static()?;
    let (w, h) = (common.width, common.height);
    let source = match frames {
        Some(n) => format!("videotestsrc pattern=ball num-buffers={n}"),
        None => "videotestsrc pattern=ball".to_owned(),
    };
    let description = format!(
        "{source} ! video/x-raw,format=RGB,width={w},height={h},framerate=30/1 ! \
         {element} name=under-test model-file={} {} ! fakesink sync=false",
        common.model.display(),
        common.props
    );
    let pipeline = gst::parse::launch(&description)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline"))?;
    let element = pipeline
        .by_name("under-test")
        .context("element under test")?;
    Ok((pipeline, element))
}

fn element_run(common: &Common, element: &str, seconds: f64) -> Result<()> {
    let (pipeline, under_test) = launch(common, element, None)?;
    let timings = Arc::new(Mutex::new(Timings::default()));
    let key = |info: &gst::PadProbeInfo| {
        info.buffer()
            .and_then(|b| b.pts())
            .map(|t| t.nseconds())
            .unwrap_or(0)
    };
    {
        let t = Arc::clone(&timings);
        under_test.static_pad("sink").unwrap().add_probe(
            gst::PadProbeType::BUFFER,
            move |_, info| {
                t.lock().unwrap().entered.insert(key(info), Instant::now());
                gst::PadProbeReturn::Ok
            },
        );
    }
    {
        let t = Arc::clone(&timings);
        under_test.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::BUFFER,
            move |_, info| {
                let now = Instant::now();
                let mut t = t.lock().unwrap();
                if let Some(start) = t.entered.remove(&key(info)) {
                    t.inside.push(now - start);
                }
                t.out.push(now);
                gst::PadProbeReturn::Ok
            },
        );
    }
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds + 2.0);
    // Run for `seconds` after the first frame (start-up excluded), at least 4 frames.
    loop {
        if let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(50),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        ) {
            if let gst::MessageView::Error(e) = msg.view() {
                pipeline.set_state(gst::State::Null)?;
                bail!("{}: {}", e.error(), e.debug().unwrap_or_default());
            }
            break;
        }
        let t = timings.lock().unwrap();
        let enough = t.out.len() >= 4
            && t.out
                .first()
                .is_some_and(|f| f.elapsed().as_secs_f64() >= seconds);
        if enough || (t.out.is_empty() && Instant::now() > deadline + Duration::from_secs(60)) {
            break;
        }
    }
    pipeline.set_state(gst::State::Null)?;
    let t = timings.lock().unwrap();
    if t.out.len() < 2 {
        bail!("fewer than two frames came through");
    }
    // The first frame (session warm-up, negotiation) is left out of both figures.
    let frames = (t.out.len() - 1) as u64;
    let span = *t.out.last().unwrap() - t.out[0];
    let latency = t.inside.iter().skip(1).sum::<Duration>() / (t.inside.len() - 1).max(1) as u32;
    print_line(
        "element",
        common,
        frames,
        frames as f64 / span.as_secs_f64(),
        Some(latency),
    );
    Ok(())
}

fn soak(common: &Common, element: &str, frames: u64) -> Result<()> {
    let (pipeline, under_test) = launch(common, element, Some(frames))?;
    let count = Arc::new(Mutex::new(0u64));
    let marks: Arc<Mutex<Vec<(u64, f64)>>> = Arc::default();
    {
        let (count, marks) = (Arc::clone(&count), Arc::clone(&marks));
        let step = (frames / 10).max(1);
        under_test
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let mut n = count.lock().unwrap();
                *n += 1;
                if *n % step == 0 || *n == 100 {
                    marks.lock().unwrap().push((*n, rss_mb()));
                }
                gst::PadProbeReturn::Ok
            });
    }
    let start = Instant::now();
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::NONE,
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .context("bus")?;
    pipeline.set_state(gst::State::Null)?;
    if let gst::MessageView::Error(e) = msg.view() {
        bail!("{}", e.error());
    }
    let n = *count.lock().unwrap();
    for (frame, rss) in marks.lock().unwrap().iter() {
        eprintln!("frame {frame:>6}: RSS {rss:.1} MiB");
    }
    let marks = marks.lock().unwrap();
    let after_100 = marks.iter().find(|(f, _)| *f == 100).map_or(0.0, |m| m.1);
    let last = marks.last().map_or(0.0, |m| m.1);
    print_line(
        "soak",
        &Common {
            config: Some(format!(
                "{} frames; RSS growth after frame 100: {:.1} MiB",
                n,
                last - after_100
            )),
            ..common.clone()
        },
        n,
        n as f64 / start.elapsed().as_secs_f64(),
        None,
    );
    Ok(())
}

/// `stats`: the element between any source and any sink (gst-launch descriptions), measured by
/// the sink itself over a window that starts `warmup` seconds after the first frame reaches it.
#[derive(clap::Args)]
struct StatsArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    element: String,
    /// Element properties, `name=value` separated by spaces. One the element lacks makes the
    /// result `n/a` (not a failure).
    #[arg(long, default_value = "")]
    props: String,
    /// Everything before the element, e.g. `videotestsrc is-live=true ! videoconvert`.
    #[arg(long)]
    source: String,
    /// Everything after the element, ending with the sink that is measured.
    #[arg(long)]
    sink: String,
    /// Length of the measurement window.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Seconds from the first frame at the sink to the start of the window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Fails when no frame reaches the sink within this many seconds of starting.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// A label copied into the output.
    #[arg(long, default_value = "")]
    scenario: String,
    /// A label copied into the output.
    #[arg(long, default_value = "")]
    mode: String,
}

/// The counters of GstBaseSink's `stats` property.
struct SinkCounts {
    rendered: u64,
    dropped: u64,
    average_rate: f64,
}

fn sink_counts(sink: &gst::Element) -> Result<SinkCounts> {
    let stats = sink.property::<gst::Structure>("stats");
    Ok(SinkCounts {
        rendered: stats.get("rendered")?,
        dropped: stats.get("dropped")?,
        average_rate: stats.get("average-rate")?,
    })
}

/// What the pad probes record. Delays are from capture (the buffer's PTS as running time) to
/// the sink, in ms.
#[derive(Default)]
struct Window {
    first_at_sink: Option<Instant>,
    measuring: bool,
    /// Frames into the element during the window.
    entered: u64,
    /// Frames that reached the sink's pad during the window (rendered or dropped there).
    arrived: u64,
    /// Capture to arrival at the sink pad, every frame.
    arrival_ms: Vec<f64>,
    /// Capture to display, every rendered frame: a synchronised sink shows a frame at capture
    /// plus the pipeline latency, or on arrival when it comes later than that.
    shown_ms: Vec<f64>,
    /// The frame the sink is handling now: its display delay if rendered, and the sink's
    /// rendered count before it (the next frame tells whether the count went up).
    pending: Option<(f64, u64)>,
}

impl Window {
    fn settle_pending(&mut self, rendered_now: u64) {
        if let Some((shown, rendered_before)) = self.pending.take()
            && rendered_now > rendered_before
        {
            self.shown_ms.push(shown);
        }
    }
}

fn sink_stats(args: &StatsArgs) -> Result<()> {
    gst::init()?;
    gstautoencoder::plugin_register_static()?;
    let outcome = match missing_property(&args.element, &args.props) {
        Ok(Some(name)) => Ok(serde_json::json!({
            "status": "n/a",
            "reason": format!("{} has no property '{name}'", args.element),
        })),
        Ok(None) => measure(args),
        Err(e) => Err(e),
    };
    let mut line = serde_json::json!({
        "scenario": args.scenario,
        "model": args.model.file_stem().unwrap_or_default().to_string_lossy(),
        "element": args.element,
        "mode": args.mode,
        "props": args.props,
    });
    let body = match &outcome {
        Ok(body) => body.clone(),
        Err(e) => serde_json::json!({ "status": "failed", "error": format!("{e:#}") }),
    };
    if let (Some(line), serde_json::Value::Object(body)) = (line.as_object_mut(), body) {
        line.extend(body);
    }
    println!("{line}");
    outcome.map(|_| ())
}

/// The first property in `props` that `element` does not have.
fn missing_property(element: &str, props: &str) -> Result<Option<String>> {
    let element = gst::ElementFactory::make(element).build()?;
    Ok(props
        .split_whitespace()
        .filter_map(|p| p.split_once('='))
        .map(|(name, _)| name)
        .find(|name| element.find_property(name).is_none())
        .map(str::to_owned))
}

fn measure(args: &StatsArgs) -> Result<serde_json::Value> {
    let description = format!(
        "{} ! {} name=under-test model-file={} {} ! {} name=measured-sink",
        args.source,
        args.element,
        args.model.display(),
        args.props,
        args.sink
    );
    let pipeline = gst::parse::launch(&description)
        .with_context(|| format!("cannot build `{description}`"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline"))?;
    let under_test = pipeline.by_name("under-test").context("element")?;
    let sink = pipeline.by_name("measured-sink").context("sink")?;
    if !sink.is::<gst_base::BaseSink>() {
        bail!("the last element of --sink is not a GstBaseSink");
    }
    let window = Arc::new(Mutex::new(Window::default()));
    {
        let window = Arc::clone(&window);
        under_test
            .static_pad("sink")
            .context("sink pad")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let mut w = window.lock().unwrap();
                if w.measuring {
                    w.entered += 1;
                }
                gst::PadProbeReturn::Ok
            });
    }
    {
        let window = Arc::clone(&window);
        sink.static_pad("sink").context("sink pad")?.add_probe(
            gst::PadProbeType::BUFFER,
            move |pad, info| {
                on_sink_buffer(pad, info, &window);
                gst::PadProbeReturn::Ok
            },
        );
    }
    let bus = pipeline.bus().context("bus")?;
    if pipeline.set_state(gst::State::Playing).is_err() {
        let error = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(1), &[gst::MessageType::Error])
            .and_then(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            });
        pipeline.set_state(gst::State::Null)?;
        bail!("cannot start: {}", error.unwrap_or_default());
    }
    let result = run_window(&pipeline, &bus, &sink, &window, args);
    pipeline.set_state(gst::State::Null)?;
    result
}

fn on_sink_buffer(pad: &gst::Pad, info: &gst::PadProbeInfo, window: &Mutex<Window>) {
    let (Some(buffer), Some(sink)) = (info.buffer(), pad.parent_element()) else {
        return;
    };
    {
        let mut w = window.lock().unwrap();
        w.first_at_sink.get_or_insert_with(Instant::now);
        if !w.measuring {
            return;
        }
    }
    // Read before taking the lock (the sink's object lock is taken here).
    let rendered = sink_counts(&sink).map_or(0, |c| c.rendered);
    let delay = capture_to_now(pad, &sink, buffer);
    let latency = sink
        .downcast_ref::<gst_base::BaseSink>()
        .map_or(0, |s| s.latency().nseconds() as i64);
    let mut w = window.lock().unwrap();
    w.arrived += 1;
    w.settle_pending(rendered);
    if let Some(delay) = delay {
        w.arrival_ms.push(delay as f64 / 1e6);
        w.pending = Some((delay.max(latency) as f64 / 1e6, rendered));
    }
}

/// Running time now minus the buffer's PTS as running time, in ns.
fn capture_to_now(pad: &gst::Pad, sink: &gst::Element, buffer: &gst::BufferRef) -> Option<i64> {
    let segment = pad.sticky_event::<gst::event::Segment>(0)?;
    let captured = segment
        .segment()
        .downcast_ref::<gst::ClockTime>()?
        .to_running_time(buffer.pts()?)?;
    let now = sink.current_running_time()?;
    Some(now.nseconds() as i64 - captured.nseconds() as i64)
}

fn run_window(
    pipeline: &gst::Pipeline,
    bus: &gst::Bus,
    sink: &gst::Element,
    window: &Mutex<Window>,
    args: &StatsArgs,
) -> Result<serde_json::Value> {
    let started = Instant::now();
    let mut start: Option<(Instant, SinkCounts)> = None;
    loop {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) {
            match msg.view() {
                gst::MessageView::Error(e) => {
                    bail!("{} ({})", e.error(), e.debug().unwrap_or_default())
                }
                gst::MessageView::Eos(_) => break,
                // As gst-launch-1.0 does: an element's latency changed.
                gst::MessageView::Latency(_) => {
                    let _ = pipeline.recalculate_latency();
                }
                _ => {}
            }
        }
        let first = window.lock().unwrap().first_at_sink;
        match (&start, first) {
            (None, None) if started.elapsed().as_secs_f64() > args.timeout => {
                bail!("no frame reached the sink in {} s", args.timeout)
            }
            (None, Some(first)) if first.elapsed().as_secs_f64() >= args.warmup => {
                let counts = sink_counts(sink)?;
                window.lock().unwrap().measuring = true;
                start = Some((Instant::now(), counts));
            }
            (Some((since, _)), _) if since.elapsed().as_secs_f64() >= args.seconds => break,
            _ => {}
        }
    }
    let (since, before) = start.context("the stream ended before the measurement window")?;
    let after = sink_counts(sink)?;
    let elapsed = since.elapsed().as_secs_f64();
    let mut query = gst::query::Latency::new();
    let (live, min_latency, max_latency) = if pipeline.query(&mut query) {
        query.result()
    } else {
        (false, gst::ClockTime::ZERO, None)
    };
    let mut w = window.lock().unwrap();
    w.measuring = false;
    w.settle_pending(after.rendered);
    let rendered = after.rendered - before.rendered;
    let ms = |t: gst::ClockTime| t.nseconds() as f64 / 1e6;
    // Latencies mean something only where the sink synchronises a live stream.
    let live_only = |v: Option<f64>| v.filter(|_| live);
    Ok(serde_json::json!({
        "status": "ok",
        "seconds": elapsed,
        "frames_in": w.entered,
        "arrived": w.arrived,
        "rendered": rendered,
        "dropped": after.dropped - before.dropped,
        "fps": rendered as f64 / elapsed,
        "in_fps": w.entered as f64 / elapsed,
        "average_rate": after.average_rate,
        "live": live,
        "latency_ms": live_only(Some(ms(min_latency))),
        "max_latency_ms": live_only(max_latency.map(ms)),
        "arrival_p50_ms": live_only(percentile(&mut w.arrival_ms, 50.0)),
        "arrival_p95_ms": live_only(percentile(&mut w.arrival_ms, 95.0)),
        "shown_frames": w.shown_ms.len(),
        "shown_p50_ms": live_only(percentile(&mut w.shown_ms, 50.0)),
        "shown_p95_ms": live_only(percentile(&mut w.shown_ms, 95.0)),
        "peak_rss_mb": peak_rss_mb(),
    }))
}

/// Nearest-rank percentile; None for no values.
fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}
