// SPDX-License-Identifier: MIT OR Apache-2.0
//! Bad models and settings: each ends in a GStreamer error at start-up whose text names the
//! problem (the file, the tensor and its shape, the metadata key or property), for every element.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gst::prelude::*;

const ELEMENTS: [&str; 5] = [
    "onnxstyletransfer",
    "onnxsegmentation",
    "onnxanomaly",
    "onnxmap",
    "onnxsuperresolution",
];

/// `videotestsrc ! <element> <props> ! fakesink`, started: the error text on the bus.
fn error_of(element: &str, props: &str) -> String {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=32,height=32 ! \
         {element} {props} ! fakesink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    start_error(&pipeline)
}

fn assert_error(element: &str, props: &str, expected: &str) {
    let err = error_of(element, props);
    assert!(
        err.contains(expected),
        "{element} {props}:\n  expected: {expected}\n  got: {err}"
    );
}

/// A folder of its own under the system temp folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ae-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn model_file(path: &Path) -> String {
    format!("model-file={}", path.display())
}

#[test]
fn model_files_that_cannot_be_read_name_the_file_and_the_problem() {
    let dir = TempDir::new("bad-files");
    let empty = dir.path("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let truncated = dir.path("truncated.onnx");
    let whole =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/style_mosaic.onnx"))
            .unwrap();
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    let fifo = dir.path("fifo.onnx");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    // A path through a regular file: reading it fails even for root.
    let through_file = empty.join("model.onnx");
    let not_onnx = fixture("not_onnx.onnx");
    let missing_weights = fixture("missing_weights.onnx");

    for element in ELEMENTS {
        assert_error(
            element,
            "model-file=/nonexistent/model.onnx",
            "model file '/nonexistent/model.onnx' does not exist",
        );
        assert_error(element, "", "no model file set (property 'model-file')");
        assert_error(
            element,
            &model_file(&empty),
            &format!("model file '{}' is empty", empty.display()),
        );
        assert_error(
            element,
            &model_file(&dir.0),
            &format!(
                "model file '{}' is a directory, not an ONNX file",
                dir.0.display()
            ),
        );
        // Never opened: ONNX Runtime would block on a FIFO until a writer came.
        assert_error(
            element,
            &model_file(&fifo),
            &format!("model file '{}' is not a regular file", fifo.display()),
        );
        assert_error(
            element,
            &model_file(&through_file),
            &format!(
                "model file '{}' cannot be read: Not a directory",
                through_file.display()
            ),
        );
        // A file that reports size 0 but has content is read, not called empty.
        let proc_file = Path::new("/proc/self/maps").to_path_buf();
        for bad in [&truncated, &not_onnx, &proc_file] {
            assert_error(
                element,
                &model_file(bad),
                &format!(
                    "model file '{}' is not a valid ONNX model (truncated or another format?)",
                    bad.display()
                ),
            );
        }
        assert_error(
            element,
            &model_file(&missing_weights),
            &format!(
                "model '{}' keeps its weights in 'missing_weights.onnx.data', which is not beside it",
                missing_weights.display()
            ),
        );
    }
}

#[test]
#[ignore = "needs a user other than root (root reads any file): cargo test --test bad_models -- --ignored"]
fn an_unreadable_model_file_is_a_clear_error() {
    // The path-through-a-file case above runs everywhere and covers the same error path.
    // SAFETY: geteuid has no preconditions.
    assert_ne!(
        unsafe { libc::geteuid() },
        0,
        "run as a user other than root"
    );
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("unreadable");
    let path = dir.path("locked.onnx");
    std::fs::copy(fixture("channel_swap.onnx"), &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    assert_error(
        "onnxstyletransfer",
        &model_file(&path),
        &format!(
            "model file '{}' cannot be read: Permission denied",
            path.display()
        ),
    );
}

#[test]
fn tensors_no_element_can_take_are_named_with_their_shapes() {
    let f = |name: &str| format!("model-file={}", fixture_str(name));
    for element in ELEMENTS {
        assert_error(
            element,
            &f("uint8_input.onnx"),
            "input 'input' is not float32; expected a float tensor [1,3,H,W] (NCHW, 3 colour channels) or [1,1,H,W] (luma), found [1,3,?,?]",
        );
        assert_error(
            element,
            &f("chw_input.onnx"),
            "input 'input' has shape [3,?,?]; expected a float tensor [1,3,H,W]",
        );
        assert_error(
            element,
            &f("two_channel_input.onnx"),
            "input 'input' has shape [1,2,?,?]; expected a float tensor [1,3,H,W]",
        );
        assert_error(
            element,
            &f("two_inputs.onnx"),
            "the model has 2 inputs (input, mask); expected one image input [1,3,H,W]",
        );
        assert_error(
            element,
            &f("fixed_30_multiple_8.onnx"),
            "'size_multiple' is 8, but the model's fixed input height 30 is not a multiple of it",
        );
    }
    let classifier = f("classifier.onnx");
    assert_error(
        "onnxstyletransfer",
        &classifier,
        "is not an image-to-image model: output 'output' is [1,3]; expected a float tensor [1,3,H,W]",
    );
    assert_error(
        "onnxanomaly",
        &classifier,
        "is not an anomaly autoencoder: output 'output' is [1,3]; expected a float tensor [1,3,H,W]",
    );
    assert_error(
        "onnxsegmentation",
        &classifier,
        "is not a segmentation model: output 'output' is [1,3]; expected a float tensor [1,K,H,W] with K = 3 classes",
    );
    assert_error(
        "onnxanomaly",
        &f("five_classes.onnx"),
        "output 'output' is [1,5,?,?]; expected a float tensor [1,3,H,W]",
    );
    // A style model handed to the segmentation element: its metadata says what it is.
    let style = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/style_mosaic.onnx");
    assert_error(
        "onnxsegmentation",
        &model_file(&style),
        "its metadata says kind 'style' (onnxstyletransfer runs it)",
    );
}

#[test]
fn malformed_metadata_names_the_key() {
    let f = |name: &str| format!("model-file={}", fixture_str(name));
    let cases = [
        (
            "onnxstyletransfer",
            "bad_mean.onnx",
            "'mean' must be three comma-separated numbers (R,G,B); found 2 in '0.5,0.5'",
        ),
        (
            "onnxstyletransfer",
            "bad_std.onnx",
            "'std' must be three positive numbers; found 0 in [0.2, 0.0, 0.2]",
        ),
        (
            "onnxstyletransfer",
            "bad_size_multiple.onnx",
            "metadata key 'size_multiple' is '-8'; expected a positive integer",
        ),
        (
            "onnxstyletransfer",
            "bad_range.onnx",
            "metadata key 'input_range' is '0-100'; expected '0-1' or '0-255'",
        ),
        (
            "onnxsegmentation",
            "seg_four_names_three_scores.onnx",
            "output 'output' is [1,3,?,?]; expected a float tensor [1,K,H,W] with K = 4 classes",
        ),
        (
            "onnxsegmentation",
            "seg_bad_output_key.onnx",
            "metadata key 'output' is 'logit'; expected 'softmax', 'sigmoid', 'probabilities' or 'logits'",
        ),
        (
            "onnxsegmentation",
            "seg_short_colors.onnx",
            "the palette (metadata key 'class_colors') has 2 colours for 3 classes",
        ),
        (
            "onnxanomaly",
            "anomaly_negative_scale.onnx",
            "metadata key 'error_scale' is '-0.1'; expected a non-negative number",
        ),
        (
            "onnxanomaly",
            "anomaly_ssim_weight_2.onnx",
            "metadata key 'error_ssim_weight' is 2; expected a number from 0 to 1",
        ),
        (
            "onnxsegmentation",
            "non_utf8_kind.onnx",
            "metadata key 'kind' has a value that is not valid UTF-8 text",
        ),
    ];
    for (element, fixture, expected) in cases {
        assert_error(element, &f(fixture), expected);
    }
    // The same checks on values given as properties name the property.
    let swap = f("channel_swap.onnx");
    assert_error(
        "onnxstyletransfer",
        &format!("{swap} std=1,x,1"),
        "property 'std' has 'x', which is not a finite number",
    );
    assert_error(
        "onnxsegmentation",
        &format!("{} palette=\"1,2,3;4,5,6\"", f("dominant_channel.onnx")),
        "the palette (property 'palette') has 2 colours for 3 classes",
    );
    assert_error(
        "onnxsegmentation",
        &format!("{} palette=\"1,2,300\"", f("dominant_channel.onnx")),
        "'palette' entry 1 of '1,2,300' is '1,2,300'; expected 'R,G,B' with each 0..255",
    );
}

#[test]
fn an_execution_provider_that_cannot_run_is_an_error_and_auto_says_what_runs() {
    let model = format!("model-file={}", fixture_str("channel_swap.onnx"));
    let anomaly_model = format!("model-file={}", fixture_str("clipped_reconstruction.onnx"));
    let map_model = format!("model-file={}", fixture_str("map_gradient.onnx"));
    for element in ELEMENTS {
        let model = match element {
            "onnxanomaly" => &anomaly_model,
            "onnxmap" => &map_model,
            _ => &model,
        };
        for provider in ["cuda", "tensorrt"] {
            assert_error(
                element,
                &format!("{model} execution-provider={provider}"),
                &format!("the {provider} execution provider is not in this ONNX Runtime library"),
            );
        }
        // auto: runs, and says on the bus and in a property that it fell back to the CPU.
        init();
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=32,height=32 ! \
             {element} name=e execution-provider=auto {model} ! fakesink"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        pipeline.set_state(gst::State::Paused).unwrap();
        let bus = pipeline.bus().unwrap();
        let message = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(10),
                &[gst::MessageType::Element],
            )
            .expect("the provider message");
        let s = message.structure().unwrap();
        assert_eq!(s.name(), "autoencoder-provider");
        assert_eq!(s.get::<&str>("active").unwrap(), "cpu");
        assert!(s.get::<bool>("fallback").unwrap());
        let e = pipeline.by_name("e").unwrap();
        assert_eq!(e.property::<String>("active-provider"), "cpu");
        pipeline.set_state(gst::State::Null).unwrap();
    }
}

/// A numeric property's type.
#[derive(Debug, Clone, Copy)]
enum Number {
    Double,
    UInt,
    Int,
}

impl Number {
    fn value(self, v: f64) -> gst::glib::Value {
        match self {
            Number::Double => v.to_value(),
            Number::UInt => (v as u32).to_value(),
            Number::Int => (v as i32).to_value(),
        }
    }

    fn read(self, element: &gst::Element, name: &str) -> f64 {
        match self {
            Number::Double => element.property::<f64>(name),
            Number::UInt => element.property::<u32>(name).into(),
            Number::Int => element.property::<i32>(name).into(),
        }
    }

    /// Whether `v` can be held by the type at all (else no caller can pass it).
    fn holds(self, v: f64) -> bool {
        match self {
            Number::Double => v.is_finite(),
            Number::UInt => (0.0..=u32::MAX as f64).contains(&v),
            Number::Int => (i32::MIN as f64..=i32::MAX as f64).contains(&v),
        }
    }
}

/// Writable numeric properties of `element`: name, type, minimum, maximum, default.
fn numeric_properties(element: &gst::Element) -> Vec<(String, Number, f64, f64, f64)> {
    element
        .list_properties()
        .iter()
        .filter(|p| p.flags().contains(gst::glib::ParamFlags::WRITABLE) && p.name() != "qos")
        .filter_map(|p| {
            let name = p.name().to_owned();
            if let Some(d) = p.downcast_ref::<gst::glib::ParamSpecDouble>() {
                Some((
                    name,
                    Number::Double,
                    d.minimum(),
                    d.maximum(),
                    d.default_value(),
                ))
            } else if let Some(u) = p.downcast_ref::<gst::glib::ParamSpecUInt>() {
                let (min, max, default) = (u.minimum(), u.maximum(), u.default_value());
                Some((name, Number::UInt, min.into(), max.into(), default.into()))
            } else {
                p.downcast_ref::<gst::glib::ParamSpecInt>().map(|i| {
                    let (min, max, default) = (i.minimum(), i.maximum(), i.default_value());
                    (name, Number::Int, min.into(), max.into(), default.into())
                })
            }
        })
        .collect()
}

/// Sets a property as a C application does (g_object_set_property): GLib validates the
/// value against the property's range and refuses it with a warning on stderr.
fn set_from_c(element: &gst::Element, name: &str, value: &gst::glib::Value) {
    use gst::glib::translate::ToGlibPtr;
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: a live object, a NUL-terminated name and an initialised GValue.
    unsafe {
        gst::glib::gobject_ffi::g_object_set_property(
            element.as_ptr() as *mut gst::glib::gobject_ffi::GObject,
            name.as_ptr(),
            value.to_glib_none().0,
        );
    }
}

#[test]
fn every_numeric_property_takes_its_range_and_refuses_beyond() {
    init();
    for factory in ELEMENTS {
        let element = gst::ElementFactory::make(factory).build().unwrap();
        let properties = numeric_properties(&element);
        assert!(properties.len() >= 3, "{factory}: {properties:?}");
        for (name, number, min, max, default) in properties {
            assert_eq!(number.read(&element, &name), default, "{factory}.{name}");
            for edge in [min, max] {
                element.set_property_from_str(&name, &edge.to_string());
                assert_eq!(
                    number.read(&element, &name),
                    edge,
                    "{factory}.{name}={edge}"
                );
            }
            // Beyond the range: refused, the last value stays.
            let step = if max - min > 2.0 { 1.0 } else { 0.01 };
            for beyond in [min - step, max + step] {
                // Not representable beyond (the type's end, or +-1e30 where 1 is lost).
                if !number.holds(beyond) || beyond == min || beyond == max {
                    continue;
                }
                set_from_c(&element, &name, &number.value(beyond));
                assert_eq!(
                    number.read(&element, &name),
                    max,
                    "{factory}.{name}={beyond} must be refused"
                );
            }
        }
    }
}

#[test]
fn a_wrong_enum_name_in_launch_syntax_is_refused_with_the_property_named() {
    init();
    for (element, property) in [
        ("onnxstyletransfer", "execution-provider"),
        ("onnxsegmentation", "output"),
        ("onnxanomaly", "output"),
        ("onnxmap", "colormap"),
        ("onnxsuperresolution", "optimization-level"),
    ] {
        let err = gst::parse::launch(&format!(
            "videotestsrc ! {element} {property}=no-such-value ! fakesink"
        ))
        .expect_err("a launch line with a wrong enum name is refused");
        assert!(
            err.to_string()
                .contains(&format!("could not set property \"{property}\" in element"))
                && err.to_string().contains("no-such-value"),
            "{element}: {err}"
        );
    }
}
