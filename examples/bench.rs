// SPDX-License-Identifier: MIT OR Apache-2.0
//! End-to-end benchmark runs, one measurement per process (so that peak RSS is its own), as
//! benches/pipeline.sh drives them. Prints one CSV line:
//! `runner,model,config,width,height,frames,fps,latency_ms,peak_rss_mb`.
//!
//!     cargo run --release --example bench -- ort --model models/style_mosaic.onnx
//!     cargo run --release --example bench -- element --model models/style_mosaic.onnx \
//!         --element onnxstyletransfer --props "inference-scale=0.5"
//!     cargo run --release --example bench -- soak --model ... --element ... --frames 10000
//!
//! `ort`: ONNX Runtime alone, the Rust session on a preallocated input (the floor).
//! `element`: `videotestsrc ! element ! fakesink` as fast as it goes; latency is the time a
//! frame spends inside the element. `live`: a live 30 fps source into a synchronised sink with
//! QoS; fps is what reaches the sink. `soak`: RSS after every 10% of a long run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use gst::prelude::*;
use gst_video::prelude::*;
use gstautoencoder::core::model::PreprocessingOverrides;
use gstautoencoder::core::{
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
    /// The element after a live 30 fps source, into a synchronised sink.
    Live {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        element: String,
        #[arg(long, default_value_t = 10.0)]
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
        } => element_run(&common, &element, seconds, false),
        Mode::Live {
            common,
            element,
            seconds,
        } => element_run(&common, &element, seconds, true),
        Mode::Soak {
            common,
            element,
            frames,
        } => soak(&common, &element, frames),
        Mode::Frame { width, height, out } => Ok(std::fs::write(out, test_frame(width, height)?)?),
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
    let image = gstautoencoder::core::ImageRef {
        data: &frame,
        width: common.width,
        height: common.height,
        stride: common.width * 3,
        layout: gstautoencoder::core::PixelLayout::RGB,
    };
    let input = session.input_mut(h, w).map_err(|e| anyhow!(e))?;
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
    live: bool,
    frames: Option<u64>,
) -> Result<(gst::Pipeline, gst::Element)> {
    gst::init()?;
    gstautoencoder::plugin_register_static()?;
    let (w, h) = (common.width, common.height);
    let source = match (live, frames) {
        (true, _) => "videotestsrc is-live=true pattern=ball".to_owned(),
        (false, Some(n)) => format!("videotestsrc pattern=ball num-buffers={n}"),
        (false, None) => "videotestsrc pattern=ball".to_owned(),
    };
    let sync = if live { "true" } else { "false" };
    let description = format!(
        "{source} ! video/x-raw,format=RGB,width={w},height={h},framerate=30/1 ! \
         {element} name=under-test model-file={} {} ! fakesink sync={sync} qos=true",
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

fn element_run(common: &Common, element: &str, seconds: f64, live: bool) -> Result<()> {
    let (pipeline, under_test) = launch(common, element, live, None)?;
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
        if live { "live" } else { "element" },
        common,
        frames,
        frames as f64 / span.as_secs_f64(),
        Some(latency),
    );
    Ok(())
}

fn soak(common: &Common, element: &str, frames: u64) -> Result<()> {
    let (pipeline, under_test) = launch(common, element, false, Some(frames))?;
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
