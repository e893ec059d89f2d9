// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the three elements declare: their class, and that the analysis elements (plain
//! BaseTransforms) advertise VideoMeta as a VideoFilter does when they do not work in place
//! (GRAY8 output), so that upstream may hand them frames of any stride.

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
