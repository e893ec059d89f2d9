// SPDX-License-Identifier: MIT OR Apache-2.0
//! Faults while running: renegotiation, model reloads, NaN/Inf outputs, flushing seeks, EOS
//! and state changes at random moments, and panics in our code. Each asserts on the frames
//! that come out (against references computed without the element) or on the exact message.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;

const ELEMENTS: [&str; 3] = ["onnxstyletransfer", "onnxsegmentation", "onnxanomaly"];

/// Runs `test` on a thread of its own and fails if it takes longer than `limit`: a deadlock
/// becomes a test failure instead of a CI run that never ends.
fn within<F: FnOnce() + Send + 'static>(limit: Duration, test: F) {
    let (done, finished) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        test();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => worker.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The test panicked: pass its panic on.
            std::panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}"),
    }
}

fn flat(colour: [u8; 3], width: usize, height: usize, format: VideoFormat) -> gst::Buffer {
    let rgb: Vec<u8> = colour.repeat(width * height);
    let (bpp, _, _) = layout(format);
    pack(&rgb, width, height, format, width * bpp)
}

fn rgb_of(buffer: &gst::BufferRef, format: VideoFormat, width: usize, height: usize) -> Vec<u8> {
    let info = gst_video::VideoInfo::from_caps(&caps(format, width, height)).unwrap();
    unpack(buffer, &info).0
}

fn assert_flat(rgb: &[u8], expected: [u8; 3], tolerance: u8, what: &str) {
    let diff = max_diff(rgb, &expected.repeat(rgb.len() / 3));
    assert!(
        diff <= tolerance,
        "{what}: off by {diff} from {expected:?}: {:?}",
        &rgb[..rgb.len().min(12)]
    );
}

/// The fixed_colour fixture's input colours and its outputs for them (ONNX Runtime, Python).
fn fixed_colour_pairs() -> Vec<([u8; 3], [u8; 3])> {
    let colours = read_rgb("fixed_colour_flat_in.rgb", 4, 1);
    let outputs = read_rgb("fixed_colour_flat_out.rgb", 4, 1);
    colours
        .chunks_exact(3)
        .zip(outputs.chunks_exact(3))
        .map(|(c, o)| ([c[0], c[1], c[2]], [o[0], o[1], o[2]]))
        .collect()
}

#[test]
fn a_fixed_size_model_follows_size_and_format_changes() {
    init();
    // The 16x16 model runs on every frame size through the resize path; a flat frame stays
    // flat through any resize, so each output is the model's output for that colour.
    let pairs = fixed_colour_pairs();
    let steps = [
        (VideoFormat::Rgb, 16, 16),
        (VideoFormat::Bgrx, 40, 24),
        (VideoFormat::Rgb, 7, 5),
        (VideoFormat::Argb, 16, 16),
    ];
    let flow = Flow::new(
        &format!(
            "onnxstyletransfer input-range=0-255 model-file={}",
            fixture_str("fixed_colour.onnx")
        ),
        &caps(steps[0].0, steps[0].1, steps[0].2),
    );
    for (i, (format, w, h)) in steps.into_iter().enumerate() {
        flow.src.set_caps(Some(&caps(format, w, h)));
        let (colour, expected) = pairs[i % pairs.len()];
        let out = flow.process(flat(colour, w, h, format));
        assert_flat(
            &rgb_of(&out, format, w, h),
            expected,
            1,
            &format!("{format:?} {w}x{h}"),
        );
    }
}

#[test]
fn segmentation_follows_size_changes() {
    init();
    let input = read_rgb("input_33x25.rgb", 33, 25);
    let small: Vec<u8> = input[..16 * 3].repeat(8); // 16x8
    let flow = Flow::new(
        &format!(
            "onnxsegmentation model-file={} output=classes",
            fixture_str("dominant_channel.onnx")
        ),
        &caps(VideoFormat::Rgb, 33, 25),
    );
    for (rgb, w, h) in [(&input, 33, 25), (&small, 16, 8), (&input, 33, 25)] {
        flow.src.set_caps(Some(&caps(VideoFormat::Rgb, w, h)));
        let out = flow.process(pack(rgb, w, h, VideoFormat::Rgb, w * 3));
        assert_eq!(gray8(&out, w, h), dominant(rgb), "{w}x{h}");
    }
}

/// channel_swap's output for a flat colour: R' = B, G' = R, B' = G.
fn swapped(c: [u8; 3]) -> [u8; 3] {
    [c[2], c[0], c[1]]
}

#[test]
fn model_file_changed_through_ready_runs_the_new_model_and_loses_no_frame() {
    init();
    let pairs = fixed_colour_pairs();
    let flow = Flow::new(
        &format!(
            // fixed_colour has no metadata: 0-255 in and out (a channel swap works either way).
            "onnxstyletransfer name=e input-range=0-255 model-file={}",
            fixture_str("channel_swap.onnx")
        ),
        &caps(VideoFormat::Rgb, 16, 16),
    );
    for (colour, _) in &pairs {
        let out = flow.process(flat(*colour, 16, 16, VideoFormat::Rgb));
        assert_flat(&out.map_readable().unwrap(), swapped(*colour), 0, "model A");
    }
    flow.pipeline.set_state(gst::State::Ready).unwrap();
    flow.element("e")
        .set_property("model-file", fixture_str("fixed_colour.onnx"));
    flow.pipeline.set_state(gst::State::Playing).unwrap();
    for (colour, expected) in &pairs {
        let out = flow.process(flat(*colour, 16, 16, VideoFormat::Rgb));
        assert_flat(&out.map_readable().unwrap(), *expected, 1, "model B");
    }
    assert!(flow.errors().is_empty());
}

#[test]
fn a_model_file_replaced_on_disk_while_playing_takes_effect_at_the_next_start() {
    init();
    // The file is read once, at start: replacing it (by rename, or by rewriting it in place)
    // changes nothing until the element starts again.
    let dir = std::env::temp_dir().join(format!("ae-replace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.onnx");
    std::fs::copy(fixture("channel_swap.onnx"), &path).unwrap();
    let pairs = fixed_colour_pairs();
    let flow = Flow::new(
        &format!(
            "onnxstyletransfer input-range=0-255 model-file={}",
            path.display()
        ),
        &caps(VideoFormat::Rgb, 16, 16),
    );
    let (colour, expected) = pairs[0];
    let check = |want: [u8; 3], tolerance, what: &str| {
        let out = flow.process(flat(colour, 16, 16, VideoFormat::Rgb));
        assert_flat(&out.map_readable().unwrap(), want, tolerance, what);
    };
    check(swapped(colour), 0, "before the replacement");
    std::fs::write(&path, std::fs::read(fixture("fixed_colour.onnx")).unwrap()).unwrap();
    check(swapped(colour), 0, "rewritten in place while playing");
    let staged = dir.join("staged.onnx");
    std::fs::copy(fixture("fixed_colour.onnx"), &staged).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    check(swapped(colour), 0, "renamed over while playing");
    flow.pipeline.set_state(gst::State::Ready).unwrap();
    flow.pipeline.set_state(gst::State::Playing).unwrap();
    check(expected, 1, "after a restart");
    assert!(flow.errors().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The non_finite fixture's score for one level, as ONNX Runtime computes it (IEEE sqrt and
/// division are exact to the last bit, so f32 here gives the same values).
fn non_finite_score(level: u8) -> f32 {
    let x = level as f32;
    (x - 100.0).sqrt() / (x - 200.0)
}

#[test]
fn nan_and_infinite_outputs_are_clamped_and_warned_about_once() {
    init();
    let levels = read_rgb("levels_16x16.rgb", 16, 16);
    let frame = || pack(&levels, 16, 16, VideoFormat::Rgb, 48);
    let model = fixture_str("non_finite.onnx");
    for non_blocking in [false, true] {
        for element in ELEMENTS {
            let extra = match element {
                "onnxsegmentation" => "output=classes",
                "onnxanomaly" => "output=error",
                _ => "",
            };
            let flow = Flow::new(
                &format!("{element} model-file={model} non-blocking={non_blocking} {extra}"),
                &caps(VideoFormat::Rgb, 16, 16),
            );
            let mut last = None;
            for _ in 0..4 {
                last = Some(flow.process(frame()));
                // Non-blocking: let the thread finish so later frames carry its result.
                std::thread::sleep(Duration::from_millis(30));
            }
            let out = last.unwrap();
            match element {
                "onnxstyletransfer" => {
                    // NaN as 0, +Inf as 255, as the Python reference computes it.
                    let expected = read_rgb("non_finite_16x16.rgb", 16, 16);
                    let got = out.map_readable().unwrap();
                    assert!(max_diff(&got, &expected) <= 1, "{element}");
                }
                "onnxsegmentation" => {
                    // NaN never wins; +Inf always does; the first class on ties.
                    let expected: Vec<u8> = levels
                        .chunks_exact(3)
                        .map(|p| {
                            let mut best = (0u8, f32::NEG_INFINITY);
                            for (c, level) in p.iter().enumerate() {
                                let s = non_finite_score(*level);
                                if s > best.1 {
                                    best = (c as u8, s);
                                }
                            }
                            best.0
                        })
                        .collect();
                    assert_eq!(gray8(&out, 16, 16), expected, "{element}");
                }
                _ => assert_eq!(out.size(), 16 * 16, "{element}: one GRAY8 error map"),
            }
            let warned = flow.warnings();
            assert_eq!(
                warned.len(),
                1,
                "{element} non-blocking={non_blocking}: {warned:?}"
            );
            assert!(
                warned[0].contains("The model produced NaN or infinite values")
                    && warned[0]
                        .contains("clamped (NaN as 0, infinities to the ends of the range)"),
                "{}",
                warned[0]
            );
            assert!(flow.errors().is_empty());
        }
    }
}

/// A small deterministic generator (xorshift): reproducible "random" moments.
struct Moments(u64);

impl Moments {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn threads_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn seeks_eos_and_state_changes_at_random_moments_never_hang_or_leak_threads() {
    within(Duration::from_secs(240), || {
        init();
        let models = [
            ("onnxstyletransfer", "models/style_mosaic_rt.onnx", ""),
            (
                "onnxsegmentation",
                "models/segmentation_unet.onnx",
                "interval=2",
            ),
            ("onnxanomaly", "models/anomaly_brick.onnx", ""),
        ];
        let root = env!("CARGO_MANIFEST_DIR");
        let mut moments = Moments(0x5eed_2026);
        // Let GStreamer's own thread pools settle before counting threads.
        let baseline = {
            let warm = gst::parse::launch("videotestsrc num-buffers=3 ! fakesink").unwrap();
            warm.set_state(gst::State::Playing).unwrap();
            let _ = warm
                .bus()
                .unwrap()
                .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos]);
            warm.set_state(gst::State::Null).unwrap();
            threads_of_this_process()
        };
        for round in 0..24 {
            let (element, model, extra) = models[round % models.len()];
            let non_blocking = round % 2 == 0;
            let pipeline = gst::parse::launch(&format!(
                "videotestsrc is-live={live} ! video/x-raw,format=RGBx,width=160,height=96,framerate=60/1 ! \
                 {element} model-file={root}/{model} non-blocking={non_blocking} {extra} ! \
                 fakesink sync={live}",
                live = round % 3 == 0,
            ))
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
            pipeline.set_state(gst::State::Playing).unwrap();
            std::thread::sleep(Duration::from_millis(moments.next(120)));
            match moments.next(4) {
                0 => {
                    let _ = pipeline.seek_simple(
                        gst::SeekFlags::FLUSH,
                        gst::ClockTime::from_mseconds(moments.next(500)),
                    );
                }
                1 => {
                    pipeline.send_event(gst::event::Eos::new());
                }
                2 => {
                    pipeline.set_state(gst::State::Paused).unwrap();
                    std::thread::sleep(Duration::from_millis(moments.next(50)));
                    pipeline.set_state(gst::State::Playing).unwrap();
                }
                _ => {} // straight to NULL with inference in flight
            }
            std::thread::sleep(Duration::from_millis(moments.next(60)));
            pipeline.set_state(gst::State::Null).unwrap();
            let bus = pipeline.bus().unwrap();
            let errors: Vec<_> =
                std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Error])).collect();
            assert!(errors.is_empty(), "round {round} ({element}): {errors:?}");
            // The element (and its inference thread) goes with the pipeline.
            drop(pipeline);
        }
        // Every inference thread was joined: none is left behind.
        let left = threads_of_this_process();
        assert!(
            left <= baseline + 1,
            "{left} threads after the rounds, {baseline} before"
        );
    });
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_panic_in_our_code_becomes_an_element_error() {
    within(Duration::from_secs(60), || {
        for non_blocking in [false, true] {
            for (element, model) in [
                ("onnxstyletransfer", "panic_style.onnx"),
                ("onnxsegmentation", "panic_segmentation.onnx"),
                ("onnxanomaly", "panic_anomaly.onnx"),
                ("onnxmap", "map_panic.onnx"),
                ("onnxsuperresolution", "superres_panic.onnx"),
            ] {
                // Every frame of onnxsuperresolution needs its own result: no non-blocking mode.
                let mode = match (element, non_blocking) {
                    ("onnxsuperresolution", true) => continue,
                    ("onnxsuperresolution", false) => String::new(),
                    _ => format!("non-blocking={non_blocking}"),
                };
                init();
                let pipeline = gst::parse::launch(&format!(
                    "videotestsrc num-buffers=20 ! video/x-raw,format=RGB,width=32,height=32 ! \
                     {element} model-file={} {mode} ! fakesink",
                    fixture_str(model)
                ))
                .unwrap()
                .downcast::<gst::Pipeline>()
                .unwrap();
                pipeline.set_state(gst::State::Playing).unwrap();
                let message = pipeline
                    .bus()
                    .unwrap()
                    .timed_pop_filtered(
                        gst::ClockTime::from_seconds(20),
                        &[gst::MessageType::Error, gst::MessageType::Eos],
                    )
                    .expect("a message");
                let text = match message.view() {
                    gst::MessageView::Error(e) => {
                        format!("{} | {}", e.error(), e.debug().unwrap_or_default())
                    }
                    other => panic!("{element}: {other:?} instead of an error"),
                };
                assert!(
                    text.contains("fault injection: a panic after inference"),
                    "{element} non-blocking={non_blocking}: {text}"
                );
                pipeline.set_state(gst::State::Null).unwrap();
            }
        }
    });
}
