// SPDX-License-Identifier: MIT OR Apache-2.0
//! What a C program may hand the elements that Rust code must not choke on: string properties
//! whose bytes are not UTF-8 (Linux file names are bytes). A panic in a GObject vfunc aborts the
//! host process, so each case runs in a child process and the parent checks that it survived.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::*;
use gst::prelude::*;

const CHILD: &str = "GSTAUTOENCODER_TEST_CHILD";

/// Runs test `name` again in a child process (with every debug log of ours on, so that logging
/// the values is exercised too) and fails unless it exits cleanly. Returns false in the child,
/// which then runs the case itself.
fn in_child_process(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return false;
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .env(CHILD, "1")
        .env("GST_DEBUG", "onnx*:7")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the process running {name} ended with {status}"
    );
    true
}

/// A string value holding `bytes` as they are.
fn raw_string(bytes: &[u8]) -> gst::glib::Value {
    gstautoencoder_test_value(bytes)
}

fn gstautoencoder_test_value(bytes: &[u8]) -> gst::glib::Value {
    use gst::glib::translate::ToGlibPtrMut;
    let c = std::ffi::CString::new(bytes).unwrap();
    let mut value = gst::glib::Value::for_value_type::<String>();
    // SAFETY: a string value; g_value_set_string copies the NUL-terminated bytes.
    unsafe { gst::glib::gobject_ffi::g_value_set_string(value.to_glib_none_mut().0, c.as_ptr()) };
    value
}

fn string_bytes(value: &gst::glib::Value) -> Option<Vec<u8>> {
    use gst::glib::translate::ToGlibPtr;
    // SAFETY: a string value; NULL or a NUL-terminated string the value owns.
    unsafe {
        let p = gst::glib::gobject_ffi::g_value_get_string(value.to_glib_none().0);
        (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_bytes().to_vec())
    }
}

const NOT_UTF8: &[u8] = b"/tmp/no-such-dir/mod\xffel.onnx";

#[test]
fn non_utf8_string_properties_never_abort() {
    if in_child_process("non_utf8_string_properties_never_abort") {
        return;
    }
    init();
    for name in [
        "onnxstyletransfer",
        "onnxsegmentation",
        "onnxanomaly",
        "onnxmap",
        "onnxsuperresolution",
    ] {
        let element = gst::ElementFactory::make(name).build().unwrap();
        // Paths: any bytes are a path, kept as they are.
        for property in ["model-file", "trt-engine-cache"] {
            element.set_property_from_value(property, &raw_string(NOT_UTF8));
            let back = element.property_value(property);
            assert_eq!(
                string_bytes(&back).as_deref(),
                Some(NOT_UTF8),
                "{name} {property}"
            );
        }
        // Text: refused, the previous value stays.
        let mut texts = vec!["mean", "std"];
        if name == "onnxsegmentation" {
            texts.push("palette");
        }
        for property in texts {
            element.set_property(property, "1,2,3");
            element.set_property_from_value(property, &raw_string(b"1,\xff,3"));
            assert_eq!(
                element.property::<Option<String>>(property).as_deref(),
                Some("1,2,3"),
                "{name} {property}"
            );
        }
    }
    // A model file named by bytes that are not UTF-8: the start error names it (lossily).
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("videotestsrc").build().unwrap();
    let style = gst::ElementFactory::make("onnxstyletransfer")
        .build()
        .unwrap();
    style.set_property_from_value("model-file", &raw_string(NOT_UTF8));
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline.add_many([&src, &style, &sink]).unwrap();
    gst::Element::link_many([&src, &style, &sink]).unwrap();
    let message = start_error(&pipeline);
    let shown = Path::new(OsStr::from_bytes(NOT_UTF8)).display().to_string();
    assert!(
        message.contains(&format!("model file '{shown}' does not exist")),
        "{message}"
    );
}

/// Plays `source ! element ! fakesink` and returns the first error on the bus: the element
/// that posted it and its message.
fn first_error(source: &str, element: &str) -> (String, String) {
    init();
    let pipeline = gst::parse::launch(&format!("{source} ! {element} ! fakesink"))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Error])
        .expect("an error on the bus");
    pipeline.set_state(gst::State::Null).unwrap();
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!()
    };
    (
        msg.src().map(|s| s.name().to_string()).unwrap_or_default(),
        e.error().to_string(),
    )
}

#[test]
fn a_tensor_beyond_the_bound_is_refused_before_it_is_allocated() {
    if in_child_process("a_tensor_beyond_the_bound_is_refused_before_it_is_allocated") {
        return;
    }
    // A 48 GiB input from a fixed size, or from a size multiple on a 65x47 stream, in both
    // modes: the element says so first (not the source's not-negotiated) and nothing aborts.
    for (fixture, non_blocking) in [
        ("huge_fixed_input.onnx", false),
        ("huge_fixed_input.onnx", true),
        ("huge_size_multiple.onnx", false),
        ("huge_size_multiple.onnx", true),
    ] {
        let model = fixture_str(fixture);
        let (from, message) = first_error(
            "videotestsrc num-buffers=3 ! video/x-raw,format=RGBx,width=65,height=47",
            &format!("onnxstyletransfer name=style model-file={model} non-blocking={non_blocking}"),
        );
        assert_eq!(
            from, "style",
            "{fixture} non-blocking={non_blocking}: {message}"
        );
        assert!(
            message.contains(
                "the input tensor would be 1x3x65536x65536, 49152 MiB; a tensor may take at \
                 most 2048 MiB"
            ),
            "{fixture} non-blocking={non_blocking}: {message}"
        );
    }
}

#[test]
fn the_tensor_bound_is_a_property() {
    // 1 MiB: a 320x240 frame's input tensor (900 KiB) fits, a 640x480 one (3.5 MiB) does not.
    let model = fixture_str("channel_swap.onnx");
    let element =
        format!("onnxstyletransfer name=style model-file={model} max-tensor-bytes=1048576");
    let (from, message) = first_error(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGBx,width=640,height=480",
        &element,
    );
    assert_eq!(from, "style", "{message}");
    assert!(
        message.contains(
            "the input tensor would be 1x3x480x640, 3 MiB; a tensor may take at most 1 MiB \
             (property max-tensor-bytes)"
        ),
        "{message}"
    );
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGBx,width=320,height=240 ! {element} ! fakesink"
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(msg.type_(), gst::MessageType::Eos, "{msg:?}");
}
