// SPDX-License-Identifier: MIT OR Apache-2.0
//! The GPU check (scripts/gpu-check.sh runs it): every shipped model through every execution
//! provider at 640x360, 1280x720 and 1920x1080, through the element, with
//!
//! - the first start (empty TensorRT engine cache) and the cached start (the same pipeline
//!   again), each the time from PLAYING to the first output frame;
//! - frames per second after that (`videotestsrc ! element ! appsink`, unsynchronised);
//! - the first and the last output (a moving pattern) against the CPU provider's for the same
//!   frames, within the tolerance of its precision (below), or the exact error when the
//!   provider cannot run. A provider whose last output is its first (a stale input) fails.
//!
//!     cargo run --release --example gpu_check -- [--providers cpu,cuda,tensorrt,tensorrt-fp16]
//!
//! Tolerances, in 8-bit levels of the output frame (style, anomaly error) or in the share of
//! pixels whose class agrees (segmentation). GPUs use other kernels than the CPU (TF32 tensor
//! cores for CUDA fp32, fp16 arithmetic for TensorRT fp16), so outputs differ slightly:
//!
//! | precision | mean level difference | 99.9th percentile | classes agreeing |
//! |---|---:|---:|---:|
//! | fp32 (cpu, cuda, tensorrt) | <= 1.0 | <= 6 | >= 99.0% |
//! | fp16 (tensorrt-fp16)       | <= 2.0 | <= 16 | >= 98.0% |

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use clap::Parser;
use gst::prelude::*;

#[derive(Parser)]
struct Args {
    /// Providers: cpu, cuda, tensorrt (fp32), tensorrt-fp16.
    #[arg(long, value_delimiter = ',', default_values_t = ["cpu", "cuda", "tensorrt", "tensorrt-fp16"].map(String::from))]
    providers: Vec<String>,
    /// Frame sizes, WIDTHxHEIGHT.
    #[arg(long, value_delimiter = ',', default_values_t = ["640x360", "1280x720", "1920x1080"].map(String::from))]
    sizes: Vec<String>,
    /// Models (files in models/ without .onnx).
    #[arg(long, value_delimiter = ',', default_values_t = ["style_mosaic", "style_mosaic_rt", "style_swirl", "pencil_sketch", "segmentation_unet", "anomaly_brick"].map(String::from))]
    models: Vec<String>,
    /// Frames timed per run, after the first.
    #[arg(long, default_value_t = 100)]
    frames: u32,
    /// The TensorRT engine cache used (emptied first).
    #[arg(long, default_value = "target/gpu-check-cache")]
    cache: PathBuf,
}

/// One model's element and the properties that make its output comparable.
fn element_for(model: &str) -> (&'static str, &'static str) {
    if model.starts_with("segmentation") {
        ("onnxsegmentation", "output=classes")
    } else if model.starts_with("anomaly") {
        ("onnxanomaly", "output=error")
    } else {
        ("onnxstyletransfer", "")
    }
}

/// Provider name -> (execution-provider, trt-fp16, precision label).
fn provider_settings(provider: &str) -> Result<(&'static str, bool, &'static str)> {
    Ok(match provider {
        "cpu" => ("cpu", false, "fp32"),
        "cuda" => ("cuda", false, "fp32"),
        "tensorrt" => ("tensorrt", false, "fp32"),
        "tensorrt-fp16" => ("tensorrt", true, "fp16"),
        other => bail!("unknown provider '{other}' (cpu, cuda, tensorrt, tensorrt-fp16)"),
    })
}

struct Run {
    start: Duration,
    fps: f64,
    /// The first and the last output frame, as bytes. The pattern moves, so they differ: a
    /// provider that kept running the first input (a stale input binding) gives the first
    /// output again at the end, and the last frame's check against the CPU fails.
    outputs: [Vec<u8>; 2],
}

/// Starts `videotestsrc ! element ! appsink`, times the first frame and the rest.
fn run(launch: &str, frames: u32) -> Result<Run> {
    let pipeline = gst::parse::launch(launch)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline"))?;
    let sink = pipeline
        .by_name("sink")
        .ok_or_else(|| anyhow!("no sink"))?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| anyhow!("not an appsink"))?;
    let bus = pipeline.bus().ok_or_else(|| anyhow!("no bus"))?;
    let error = || {
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])
            .map(|m| match m.view() {
                gst::MessageView::Error(e) => e.error().to_string(),
                _ => unreachable!(),
            })
            .unwrap_or_else(|| "no frame came out".into())
    };
    let started = Instant::now();
    if pipeline.set_state(gst::State::Playing).is_err() {
        let e = error();
        pipeline.set_state(gst::State::Null)?;
        bail!("{e}");
    }
    let first = sink.try_pull_sample(gst::ClockTime::from_seconds(600));
    let start = started.elapsed();
    let Some(first) = first else {
        let e = error();
        pipeline.set_state(gst::State::Null)?;
        bail!("{e}");
    };
    let bytes = |sample: &gst::Sample| -> Result<Vec<u8>> {
        Ok(sample
            .buffer()
            .ok_or_else(|| anyhow!("empty sample"))?
            .map_readable()?
            .to_vec())
    };
    let output = bytes(&first)?;
    let timed = Instant::now();
    let mut count = 0;
    let mut last = None;
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(60)) {
        count += 1;
        last = Some(sample);
    }
    let last = last
        .as_ref()
        .map(bytes)
        .transpose()?
        .unwrap_or_else(|| output.clone());
    let fps = count as f64 / timed.elapsed().as_secs_f64();
    pipeline.set_state(gst::State::Null)?;
    if count + 1 < frames {
        bail!(
            "only {} of {frames} frames came out: {}",
            count + 1,
            error()
        );
    }
    Ok(Run {
        start,
        fps,
        outputs: [output, last],
    })
}

/// (mean level difference, 99.9th percentile, share of equal bytes).
fn compare(a: &[u8], b: &[u8]) -> (f64, u8, f64) {
    let mut diffs: Vec<u8> = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).collect();
    let mean = diffs.iter().map(|d| *d as f64).sum::<f64>() / diffs.len().max(1) as f64;
    let equal = diffs.iter().filter(|d| **d == 0).count() as f64 / diffs.len().max(1) as f64;
    diffs.sort_unstable();
    let p999 = diffs
        .get((diffs.len() * 999 / 1000).min(diffs.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0);
    (mean, p999, equal)
}

fn within_tolerance(model: &str, precision: &str, (mean, p999, equal): (f64, u8, f64)) -> bool {
    let fp16 = precision == "fp16";
    if model.starts_with("segmentation") {
        return equal >= if fp16 { 0.98 } else { 0.99 };
    }
    let (max_mean, max_p999) = if fp16 { (2.0, 16) } else { (1.0, 6) };
    mean <= max_mean && p999 <= max_p999
}

fn main() -> Result<()> {
    let args = Args::parse();
    gst::init()?;
    gstautoencoder::plugin_register_static()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let _ = std::fs::remove_dir_all(&args.cache);
    std::fs::create_dir_all(&args.cache)?;
    println!(
        "| model | size | provider | first start s | cached start s | fps | mean diff | p99.9 diff | equal | vs CPU |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---|");
    let mut failures = 0;
    for model in &args.models {
        let (element, props) = element_for(model);
        for size in &args.sizes {
            let (w, h) = size
                .split_once('x')
                .ok_or_else(|| anyhow!("size '{size}' is not WIDTHxHEIGHT"))?;
            let mut reference: Option<[Vec<u8>; 2]> = None;
            for provider in &args.providers {
                let (ep, fp16, precision) = provider_settings(provider)?;
                let launch = format!(
                    "videotestsrc pattern=ball num-buffers={} ! video/x-raw,format=RGBx,width={w},height={h} ! \
                     {element} model-file={} execution-provider={ep} trt-fp16={fp16} trt-engine-cache={} {props} ! \
                     appsink name=sink sync=false",
                    args.frames + 1,
                    root.join("models").join(format!("{model}.onnx")).display(),
                    args.cache.display()
                );
                let row = |text: String| println!("| {model} | {size} | {provider} | {text} |");
                let first = match run(&launch, args.frames + 1) {
                    Ok(first) => first,
                    Err(e) => {
                        row(format!("- | - | - | - | - | - | cannot run: {e}"));
                        continue;
                    }
                };
                let cached = run(&launch, args.frames + 1)?;
                if provider == "cpu" {
                    if cached.outputs[0] == cached.outputs[1] {
                        bail!(
                            "{model} {size}: the first and last CPU outputs are equal; the check needs frames that differ"
                        );
                    }
                    reference = Some(cached.outputs.clone());
                }
                let verdict = match &reference {
                    Some(cpu) if cpu[0].len() == cached.outputs[0].len() => {
                        // The worse of the first and the last frame.
                        let first = compare(&cpu[0], &cached.outputs[0]);
                        let last = compare(&cpu[1], &cached.outputs[1]);
                        let stats = if within_tolerance(model, precision, first) {
                            last
                        } else {
                            first
                        };
                        let stale = cached.outputs[0] == cached.outputs[1];
                        let ok = within_tolerance(model, precision, first)
                            && within_tolerance(model, precision, last)
                            && !stale;
                        failures += usize::from(!ok);
                        format!(
                            "{:.2} | {} | {:.1}% | {}",
                            stats.0,
                            stats.1,
                            stats.2 * 100.0,
                            match (ok, stale) {
                                (true, _) => "ok",
                                (false, true) => "STALE INPUT (the last frame is the first)",
                                (false, false) => "OUT OF TOLERANCE",
                            }
                        )
                    }
                    _ => "- | - | - | no CPU reference (run with cpu first)".into(),
                };
                row(format!(
                    "{:.2} | {:.2} | {:.1} | {verdict}",
                    first.start.as_secs_f64(),
                    cached.start.as_secs_f64(),
                    cached.fps
                ));
            }
        }
    }
    if failures > 0 {
        bail!("{failures} runs out of tolerance");
    }
    Ok(())
}
