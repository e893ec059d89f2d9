// SPDX-License-Identifier: MIT OR Apache-2.0
//! `model-file` given as a bare model name: found through `GST_AUTOENCODER_MODEL_PATH`, it
//! runs the same model as its full path does; found nowhere, the start error lists every
//! folder searched. The variable is read in a child process (this test binary run again with
//! it set), as the Rust 2024 edition makes setting it in a running test process unsafe.

mod common;

use std::process::Command;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;

const W: usize = 33;
const H: usize = 25;

/// Runs this binary's ignored test `child` with `GST_AUTOENCODER_MODEL_PATH=path`, in `cwd`,
/// and returns what it printed.
fn run_child(child: &str, path: &str, cwd: &std::path::Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", child, "--ignored", "--nocapture"])
        .env("GST_AUTOENCODER_MODEL_PATH", path)
        .current_dir(cwd)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {child} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A fresh empty folder to run the child in, so that no model file is found relative to it.
fn empty_folder(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ae-model-search-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_bare_model_name_runs_the_model_found_on_the_search_path() {
    let fixtures = fixture("");
    let cwd = empty_folder("found");
    // The first folder does not exist: the search goes on to the next.
    let out = run_child(
        "child_runs_a_bare_name_and_the_full_path",
        &format!("/nonexistent/models:{}", fixtures.display()),
        &cwd,
    );
    std::fs::remove_dir_all(&cwd).unwrap();
    assert!(
        out.contains(&format!(
            "frame error: model '{}' on 8x6 frames",
            fixture("fails_when_bright_style.onnx").display()
        )),
        "{out}"
    );
    // Both spellings of the name find the fixture and give exactly the full path's frame.
    for name in ["dynamic_conv", "dynamic_conv.onnx"] {
        assert!(
            out.contains(&format!("{name}: same output as the full path")),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "{name}: model-file {}",
                fixture("dynamic_conv.onnx").display()
            )),
            "{out}"
        );
    }
}

#[test]
#[ignore = "run as a child process by a_bare_model_name_runs_the_model_found_on_the_search_path"]
fn child_runs_a_bare_name_and_the_full_path() {
    let input = read_rgb("input_33x25.rgb", W, H);
    let (full, _) = run_and_report(&fixture_str("dynamic_conv.onnx"), &input);
    // Random weights: another model would not give this (ONNX Runtime's Python run).
    let reference = read_rgb("dynamic_conv_33x25.rgb", W, H);
    assert!(max_diff(&full, &reference) <= 1, "the full path misbehaves");
    for name in ["dynamic_conv", "dynamic_conv.onnx"] {
        let (bare, model_file) = run_and_report(name, &input);
        if bare == full {
            println!("{name}: same output as the full path");
        }
        println!("{name}: model-file {model_file}");
    }
    // A frame's error names the file the name resolved to (this fixture fails on a frame
    // whose top-left pixel is bright).
    let flow = Flow::new(
        "onnxstyletransfer model-file=fails_when_bright_style",
        &caps(VideoFormat::Rgb, 8, 6),
    );
    let mut bright = vec![64u8; 8 * 6 * 3];
    bright[..3].fill(255);
    flow.src
        .push_buffer(pack(&bright, 8, 6, VideoFormat::Rgb, 8 * 3))
        .unwrap();
    let msg = flow
        .pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
        .expect("the frame's error");
    if let gst::MessageView::Error(e) = msg.view() {
        println!("frame error: {}", e.error());
    }
}

/// Runs `input` through `onnxstyletransfer model-file=<model>`: the output's RGB and the
/// model file the `autoencoder-provider` start message names.
fn run_and_report(model: &str, input: &[u8]) -> (Vec<u8>, String) {
    init();
    let caps = caps(VideoFormat::Rgb, W, H);
    let flow = Flow::new(&format!("onnxstyletransfer model-file={model}"), &caps);
    let out = flow.process(pack(input, W, H, VideoFormat::Rgb, W * 3));
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let (rgb, _) = unpack(&out, &info);
    let bus = flow.pipeline.bus().unwrap();
    let model_file = std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Element]))
        .find_map(|m| {
            let s = m.structure()?;
            (s.name() == "autoencoder-provider").then(|| s.get::<String>("model-file").unwrap())
        })
        .expect("the start message");
    (rgb, model_file)
}

#[test]
fn a_bare_model_name_found_nowhere_lists_the_folders_searched() {
    let cwd = empty_folder("missing");
    let out = run_child(
        "child_prints_the_start_error_of_a_missing_name",
        "/nonexistent/first:/nonexistent/second",
        &cwd,
    );
    std::fs::remove_dir_all(&cwd).unwrap();
    let cwd = std::fs::canonicalize(std::env::temp_dir())
        .unwrap()
        .join(format!("ae-model-search-missing-{}", std::process::id()));
    for expected in [
        "NOT FOUND: true",
        "model file 'no_such_model' does not exist",
        &format!("not a file in the current folder ({})", cwd.display()),
        "no model named no_such_model or no_such_model.onnx",
        "  - /nonexistent/first (no such folder)\n",
        "  - /nonexistent/second (no such folder)\n",
        "  - /usr/local/share/gstautoencoder/models",
        "  - /usr/share/gstautoencoder/models",
        "add the model's folder to GST_AUTOENCODER_MODEL_PATH",
    ] {
        assert!(out.contains(expected), "'{expected}' missing from: {out}");
    }
    // The variable's folders come first, in their order.
    let first = out.find("/nonexistent/first").unwrap();
    let second = out.find("/nonexistent/second").unwrap();
    let system = out.find("/usr/share/gstautoencoder/models").unwrap();
    assert!(first < second && second < system, "{out}");
}

#[test]
#[ignore = "run as a child process by a_bare_model_name_found_nowhere_lists_the_folders_searched"]
fn child_prints_the_start_error_of_a_missing_name() {
    init();
    let pipeline: gst::Pipeline = gst::parse::launch(
        "videotestsrc num-buffers=1 ! onnxsegmentation model-file=no_such_model ! fakesink",
    )
    .unwrap()
    .downcast()
    .unwrap();
    let result = pipeline.set_state(gst::State::Paused);
    assert!(result.is_err(), "the state change fails");
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
        .expect("an error message on the bus");
    pipeline.set_state(gst::State::Null).unwrap();
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!("only errors are asked for")
    };
    println!(
        "NOT FOUND: {}",
        e.error().matches(gst::ResourceError::NotFound)
    );
    println!("START ERROR: {}", e.error());
}
