// SPDX-License-Identifier: MIT OR Apache-2.0
//! Helpers shared by the integration tests: plugin registration, fixtures, and packing RGB
//! test images into any accepted video format with a chosen row stride.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Once;

use gst::prelude::*;
use gst_video::VideoFormat;
use gst_video::prelude::*;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstautoencoder::plugin_register_static().expect("plugin registers");
    });
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn fixture_str(name: &str) -> String {
    fixture(name).display().to_string()
}

/// A fixture of raw RGB bytes.
pub fn read_rgb(name: &str, width: usize, height: usize) -> Vec<u8> {
    let data = std::fs::read(fixture(name)).unwrap();
    assert_eq!(data.len(), width * height * 3, "{name}");
    data
}

/// (bytes per pixel, offsets of R, G, B, offset of the non-colour byte if any)
pub fn layout(format: VideoFormat) -> (usize, [usize; 3], Option<usize>) {
    match format {
        VideoFormat::Rgb => (3, [0, 1, 2], None),
        VideoFormat::Bgr => (3, [2, 1, 0], None),
        VideoFormat::Rgba | VideoFormat::Rgbx => (4, [0, 1, 2], Some(3)),
        VideoFormat::Bgra | VideoFormat::Bgrx => (4, [2, 1, 0], Some(3)),
        VideoFormat::Argb | VideoFormat::Xrgb => (4, [1, 2, 3], Some(0)),
        VideoFormat::Abgr | VideoFormat::Xbgr => (4, [3, 2, 1], Some(0)),
        other => panic!("no layout for {other:?}"),
    }
}

/// The byte the tests put in alpha/padding positions, to check it comes back untouched.
pub fn alpha_of(x: usize, y: usize) -> u8 {
    (x * 7 + y * 13 + 1) as u8
}

/// A video buffer in `format` holding the RGB image, rows `stride` bytes apart (padding bytes
/// 0xEE), with a VideoMeta describing that stride.
pub fn pack(
    rgb: &[u8],
    width: usize,
    height: usize,
    format: VideoFormat,
    stride: usize,
) -> gst::Buffer {
    let (bpp, offsets, extra) = layout(format);
    assert!(stride >= width * bpp);
    let mut data = vec![0xEEu8; stride * height];
    for y in 0..height {
        for x in 0..width {
            let px = &mut data[y * stride + x * bpp..][..bpp];
            for k in 0..3 {
                px[offsets[k]] = rgb[(y * width + x) * 3 + k];
            }
            if let Some(a) = extra {
                px[a] = alpha_of(x, y);
            }
        }
    }
    let mut buffer = gst::Buffer::from_mut_slice(data);
    {
        let buffer = buffer.get_mut().unwrap();
        gst_video::VideoMeta::add_full(
            buffer,
            gst_video::VideoFrameFlags::empty(),
            format,
            width as u32,
            height as u32,
            &[0],
            &[stride as i32],
        )
        .unwrap();
    }
    buffer
}

/// Reads a video buffer back into RGB and the non-colour bytes (empty for 3-byte formats).
pub fn unpack(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> (Vec<u8>, Vec<u8>) {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).unwrap();
    let (bpp, offsets, extra) = layout(info.format());
    let (width, height) = (info.width() as usize, info.height() as usize);
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap();
    let mut rgb = Vec::with_capacity(width * height * 3);
    let mut alpha = Vec::new();
    for y in 0..height {
        for x in 0..width {
            let px = &data[y * stride + x * bpp..][..bpp];
            rgb.extend(offsets.iter().map(|&o| px[o]));
            if let Some(a) = extra {
                alpha.push(px[a]);
            }
        }
    }
    (rgb, alpha)
}

pub fn caps(format: VideoFormat, width: usize, height: usize) -> gst::Caps {
    gst_video::VideoInfo::builder(format, width as u32, height as u32)
        .fps(gst::Fraction::new(30, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap()
}

/// Runs one buffer through the element described by `launch` (e.g. "onnxstyletransfer
/// model-file=..."), returning the output buffer.
pub fn run_one(
    launch: &str,
    format: VideoFormat,
    width: usize,
    height: usize,
    buffer: gst::Buffer,
) -> gst::Buffer {
    let mut h = gst_check::Harness::new_parse(launch);
    h.set_src_caps(caps(format, width, height));
    h.push(buffer).expect("push");
    h.pull().expect("pull")
}

/// Largest absolute difference between two byte slices of the same length.
pub fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

/// Sets `element`'s pipeline to PAUSED and returns the error message text posted on the bus.
pub fn start_error(pipeline: &gst::Pipeline) -> String {
    let result = pipeline.set_state(gst::State::Paused);
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
        .expect("an error message on the bus");
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(result.is_err(), "the state change fails");
    match msg.view() {
        gst::MessageView::Error(e) => format!("{} | {}", e.error(), e.debug().unwrap_or_default()),
        _ => unreachable!(),
    }
}

/// `appsrc ! <element> ! appsink`: frames pushed and pulled one by one, caps changed at will.
pub struct Flow {
    pub pipeline: gst::Pipeline,
    pub src: gst_app::AppSrc,
    pub sink: gst_app::AppSink,
}

impl Flow {
    /// `element` is launch syntax, e.g. "onnxstyletransfer name=e model-file=...".
    pub fn new(element: &str, caps: &gst::Caps) -> Self {
        init();
        let pipeline = gst::parse::launch(&format!(
            "appsrc name=src format=time ! {element} ! appsink name=sink sync=false"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let src = pipeline
            .by_name("src")
            .unwrap()
            .downcast::<gst_app::AppSrc>()
            .unwrap();
        src.set_caps(Some(caps));
        let sink = pipeline
            .by_name("sink")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        Self {
            pipeline,
            src,
            sink,
        }
    }

    /// Pushes `buffer` and returns what comes out (panics on an error message or a timeout).
    pub fn process(&self, buffer: gst::Buffer) -> gst::Buffer {
        self.src.push_buffer(buffer).unwrap();
        match self.sink.try_pull_sample(gst::ClockTime::from_seconds(20)) {
            Some(sample) => sample.buffer_owned().unwrap(),
            None => panic!("no output; bus: {:?}", self.errors()),
        }
    }

    /// The error messages on the bus so far, as "message | debug".
    pub fn errors(&self) -> Vec<String> {
        self.messages(gst::MessageType::Error)
    }

    /// The warning messages on the bus so far, as "message | debug".
    pub fn warnings(&self) -> Vec<String> {
        self.messages(gst::MessageType::Warning)
    }

    fn messages(&self, kind: gst::MessageType) -> Vec<String> {
        let bus = self.pipeline.bus().unwrap();
        std::iter::from_fn(|| bus.pop_filtered(&[kind]))
            .map(|m| match m.view() {
                gst::MessageView::Error(e) => {
                    format!("{} | {}", e.error(), e.debug().unwrap_or_default())
                }
                gst::MessageView::Warning(w) => {
                    format!("{} | {}", w.error(), w.debug().unwrap_or_default())
                }
                _ => unreachable!("only errors and warnings are asked for"),
            })
            .collect()
    }

    /// The element named `name` in the pipeline.
    pub fn element(&self, name: &str) -> gst::Element {
        self.pipeline.by_name(name).unwrap()
    }
}

impl Drop for Flow {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// The GRAY8 plane of `buffer` without row padding.
pub fn gray8(buffer: &gst::BufferRef, width: usize, height: usize) -> Vec<u8> {
    let info = gst_video::VideoInfo::builder(VideoFormat::Gray8, width as u32, height as u32)
        .build()
        .unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).unwrap();
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap();
    (0..height)
        .flat_map(|y| data[y * stride..y * stride + width].to_vec())
        .collect()
}

/// The dominant channel of each RGB pixel (the first on ties): the classes of the
/// dominant_channel fixture, computed without it.
pub fn dominant(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|p| {
            let mut best = 0;
            for c in 1..3 {
                if p[c] > p[best] {
                    best = c;
                }
            }
            best as u8
        })
        .collect()
}

/// This process's resident memory in KiB (VmRSS).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}
