// SPDX-License-Identifier: MIT OR Apache-2.0
//! Loading the ONNX Runtime library: an ORT_DYLIB_PATH that cannot load is a clear start-up
//! error. The library is loaded once per process, so each case runs this test binary again
//! as a child process with the variable set.

mod common;

use std::process::Command;

use common::*;

#[test]
fn an_ort_dylib_path_that_cannot_load_is_a_clear_error() {
    let exe = std::env::current_exe().unwrap();
    let cases = [
        (
            "/nonexistent/libonnxruntime.so",
            "ORT_DYLIB_PATH=/nonexistent/libonnxruntime.so cannot be used: No such file or directory",
        ),
        (
            "/tmp",
            "ORT_DYLIB_PATH=/tmp is a directory; give the library file itself",
        ),
        (
            concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"),
            "README.md: invalid ELF header",
        ),
        (
            "libonnxruntime.so",
            "ORT_DYLIB_PATH=libonnxruntime.so is not an absolute path",
        ),
    ];
    for (value, expected) in cases {
        let out = Command::new(&exe)
            .args([
                "--exact",
                "child_prints_the_start_error",
                "--ignored",
                "--nocapture",
            ])
            .env("ORT_DYLIB_PATH", value)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed: {stdout}");
        assert!(
            stdout.contains(expected),
            "ORT_DYLIB_PATH={value}: {stdout}"
        );
    }
}

#[test]
#[ignore = "run as a child process by an_ort_dylib_path_that_cannot_load_is_a_clear_error"]
fn child_prints_the_start_error() {
    init();
    let pipeline: gst::Pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=1 ! onnxstyletransfer model-file={} ! fakesink",
        fixture_str("channel_swap.onnx")
    ))
    .unwrap()
    .downcast()
    .unwrap();
    println!("START ERROR: {}", start_error(&pipeline));
}

use gst::prelude::*;
