// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the four elements declare: their class, and that the analysis elements (plain
//! BaseTransforms) advertise VideoMeta as a VideoFilter does when they do not work in place
//! (GRAY8 or GRAY16 output), so that upstream may hand them frames of any stride.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;

#[test]
fn the_elements_declare_their_class() {
    init();
    for (name, class) in [
        ("onnxstyletransfer", "Filter/Effect/Video"),
        ("onnxsegmentation", "Filter/Analyzer/Video"),
        ("onnxanomaly", "Filter/Analyzer/Video"),
        ("onnxmap", "Filter/Analyzer/Video"),
        ("onnxsuperresolution", "Filter/Converter/Video/Scaler"),
    ] {
        let factory = gst::ElementFactory::find(name).unwrap();
        assert_eq!(factory.metadata("klass"), Some(class), "{name}");
    }
}

#[test]
fn the_analysis_elements_propose_video_meta() {
    init();
    for (name, model, props) in [
        (
            "onnxsegmentation",
            "dominant_channel.onnx",
            "output=classes",
        ),
        (
            "onnxanomaly",
            "clipped_reconstruction.onnx",
            "error-scale=1 output=error",
        ),
        ("onnxmap", "map_gradient.onnx", "output=gray16"),
        ("onnxsuperresolution", "superres_rgb_x2.onnx", ""),
    ] {
        let mut h = gst_check::Harness::new_parse(&format!(
            "{name} model-file={} {props}",
            fixture_str(model)
        ));
        let caps = caps(VideoFormat::Rgbx, 16, 8);
        h.set_src_caps(caps.clone());
        // One frame through: the caps are negotiated and the output allocation decided.
        let frame = pack(&[90u8; 16 * 8 * 3], 16, 8, VideoFormat::Rgbx, 16 * 4);
        h.push_and_pull(frame).unwrap();
        let mut query = gst::query::Allocation::new(Some(&caps), true);
        assert!(h.srcpad().unwrap().peer_query(&mut query), "{name}");
        assert!(
            query
                .find_allocation_meta::<gst_video::VideoMeta>()
                .is_some(),
            "{name} does not propose VideoMeta"
        );
    }
}

/// Starts `videotestsrc ! ELEMENT ! fakesink` and returns the error posted on the bus.
fn start_glib_error(element: &str) -> gst::glib::Error {
    init();
    let pipeline = gst::parse::launch(&format!("videotestsrc ! {element} ! fakesink"))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let _ = pipeline.set_state(gst::State::Paused);
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
        .expect("an error message on the bus");
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(e) => e.error(),
        _ => unreachable!(),
    }
}

#[test]
fn applications_can_tell_a_missing_file_from_a_bad_setting() {
    // A relative path that does not exist: NotFound, the path shown resolved.
    let missing = start_glib_error("onnxstyletransfer model-file=no/such/model.onnx");
    assert!(missing.matches(gst::ResourceError::NotFound), "{missing:?}");
    let cwd = std::env::current_dir().unwrap();
    assert!(
        missing
            .message()
            .contains(&cwd.join("no/such/model.onnx").display().to_string()),
        "{missing}"
    );
    // A file that is not ONNX: it cannot be read as a model.
    let not_onnx = start_glib_error(&format!(
        "onnxstyletransfer model-file={}",
        fixture_str("not_onnx.onnx")
    ));
    assert!(
        not_onnx.matches(gst::ResourceError::OpenRead),
        "{not_onnx:?}"
    );
    // A malformed property: a setting.
    let bad_mean = start_glib_error(&format!(
        "onnxstyletransfer model-file={} mean=1,2",
        fixture_str("channel_swap.onnx")
    ));
    assert!(
        bad_mean.matches(gst::LibraryError::Settings),
        "{bad_mean:?}"
    );
    // A model made for another element: a setting too.
    let wrong_kind = start_glib_error(&format!(
        "onnxanomaly model-file={}",
        fixture_str("dynamic_conv.onnx")
    ));
    assert!(
        wrong_kind.matches(gst::LibraryError::Settings),
        "{wrong_kind:?}"
    );
}
