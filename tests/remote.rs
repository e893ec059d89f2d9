// SPDX-License-Identifier: MIT OR Apache-2.0
//! The elements on a real NVIDIA Triton Inference Server (KServe v2 gRPC), on 127.0.0.1:
//! `triton/serve.py` in the environment `scripts/triton.sh` makes (scripts/test.sh runs it).
//! Remote frames equal local ones; streams sent to one server model are batched by Triton's
//! dynamic batcher (its statistics say so); and the server's faults end in named errors.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;
use gstautoencoder::inference::remote::proto::ModelStatisticsRequest;
use gstautoencoder::inference::remote::proto::grpc_inference_service_client::GrpcInferenceServiceClient;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of the Triton environment (scripts/triton.sh prints it).
fn triton_python() -> PathBuf {
    if let Some(p) = std::env::var_os("GST_AUTOENCODER_TRITON_PYTHON") {
        return p.into();
    }
    let out = Command::new(root().join("scripts/triton.sh"))
        .output()
        .expect("scripts/triton.sh runs");
    assert!(
        out.status.success(),
        "scripts/triton.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// One test at a time: each starts Triton servers (about 5 s of both cores each on this
/// machine), and several starting at once can take minutes; the live tests' timing also
/// needs the cores.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `triton/serve.py`, stopped (SIGTERM) when dropped.
struct Server {
    child: Child,
    grpc: u16,
}

impl Server {
    /// Serves `models` (paths under models/) with `extra` options, waiting until it is ready.
    fn start(models: &[&str], extra: &[&str]) -> Self {
        Self::start_on(free_port(), models, extra)
    }

    fn start_on(grpc: u16, models: &[&str], extra: &[&str]) -> Self {
        let mut child = Command::new(triton_python())
            .arg(root().join("triton/serve.py"))
            .args(models.iter().map(|m| root().join("models").join(m)))
            .args(["--grpc-port", &grpc.to_string()])
            .args(["--http-port", &free_port().to_string()])
            .args(["--metrics-port", &free_port().to_string()])
            .args(["--intra-op-threads", "1"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("triton/serve.py starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("READY") {
                    let _ = tx.send(());
                }
            }
        });
        // Made before waiting: a server that is not ready in time is stopped when the panic
        // drops it, not left running.
        let server = Self { child, grpc };
        rx.recv_timeout(Duration::from_secs(120))
            .expect("the Triton server says READY within 2 minutes");
        server
    }

    fn url(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.grpc)
    }

    /// Stops the server (SIGTERM, then SIGKILL after 20 s) and waits for it.
    fn stop(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// (inference count, execution count) of `model` from the statistics endpoint.
    fn statistics(&self, model: &str) -> (u64, u64) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut client =
                GrpcInferenceServiceClient::connect(format!("http://127.0.0.1:{}", self.grpc))
                    .await
                    .unwrap();
            let stats = client
                .model_statistics(ModelStatisticsRequest {
                    name: model.to_owned(),
                    version: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            let s = &stats.model_stats[0];
            (s.inference_count, s.execution_count)
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One 64x48 frame of videotestsrc through `element`, as raw bytes.
fn frame_through(element: &str) -> Result<Vec<u8>, String> {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=1 pattern=smpte75 ! video/x-raw,format=RGB,width=64,height=48 ! \
         {element} ! appsink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // A frame, or the error that stopped the pipeline (at start or on the frame).
    let result = loop {
        if let Some(m) = bus.pop_filtered(&[gst::MessageType::Error]) {
            let gst::MessageView::Error(e) = m.view() else {
                unreachable!()
            };
            break Err(format!("{} | {}", e.error(), e.debug().unwrap_or_default()));
        }
        if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            break Ok(s.buffer().unwrap().map_readable().unwrap().to_vec());
        }
        if Instant::now() > deadline {
            break Err("no frame and no error within 60 s".to_owned());
        }
    };
    pipeline.set_state(gst::State::Null).unwrap();
    result
}

/// Waits up to `wait` for the element error that stops `pipeline`, stops it, and returns
/// the error.
fn stopping_error(pipeline: &gst::Pipeline, wait: u64, what: &str) -> gst::glib::Error {
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(wait),
            &[gst::MessageType::Error],
        )
        .unwrap_or_else(|| panic!("{what}"));
    pipeline.set_state(gst::State::Null).unwrap();
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!()
    };
    e.error()
}

fn model(file: &str) -> String {
    root().join("models").join(file).display().to_string()
}

#[test]
fn remote_frames_equal_local_frames_and_streams_are_batched() {
    let _serial = one_at_a_time();
    let server = Server::start(
        &[
            "style_mosaic_rt.onnx",
            "segmentation_unet.onnx",
            "anomaly_brick.onnx",
        ],
        &["--queue-delay-us", "20000"],
    );
    let url = server.url();
    for (element, file, props) in [
        ("onnxstyletransfer", "style_mosaic_rt.onnx", ""),
        (
            "onnxsegmentation",
            "segmentation_unet.onnx",
            "output=classes",
        ),
        ("onnxanomaly", "anomaly_brick.onnx", "output=error"),
    ] {
        let stem = file.trim_end_matches(".onnx");
        let local =
            frame_through(&format!("{element} model-file={} {props}", model(file))).expect("local");
        // The model's name on the server is the file's stem: model-file alone names it.
        let remote = frame_through(&format!(
            "{element} inference-server={url} model-file={} {props}",
            model(file)
        ))
        .unwrap_or_else(|e| panic!("{element} remote: {e}"));
        assert_eq!(remote, local, "{element}: remote and local frames differ");
        let named = frame_through(&format!(
            "{element} inference-server={url} model-name={stem} {props}"
        ))
        .unwrap_or_else(|e| panic!("{element} remote by name: {e}"));
        assert_eq!(named, local, "{element}: by model-name");
    }
    // The element's own settings around the model work as locally: a smaller inference size,
    // and inference on the element's own thread.
    for props in [
        "inference-scale=0.5",
        "non-blocking=true wait-first-result=true",
    ] {
        let file = model("style_mosaic_rt.onnx");
        let local =
            frame_through(&format!("onnxstyletransfer model-file={file} {props}")).expect("local");
        let remote = frame_through(&format!(
            "onnxstyletransfer inference-server={url} model-name=style_mosaic_rt {props}"
        ))
        .unwrap_or_else(|e| panic!("{props}: {e}"));
        assert_eq!(remote, local, "{props}: remote and local frames differ");
    }

    // Four streams in one process, each through its own element, to one server model.
    init();
    let (before_inferences, _) = server.statistics("style_mosaic_rt");
    let pipelines: Vec<gst::Pipeline> = (0..4)
        .map(|i| {
            gst::parse::launch(&format!(
                "videotestsrc num-buffers=12 pattern={i} ! \
                 video/x-raw,format=RGB,width=64,height=48 ! \
                 onnxstyletransfer inference-server={url} model-name=style_mosaic_rt ! \
                 fakesink sync=false"
            ))
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap()
        })
        .collect();
    for p in &pipelines {
        p.set_state(gst::State::Playing).unwrap();
    }
    for p in &pipelines {
        let msg = p
            .bus()
            .unwrap()
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(120),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .expect("each stream ends");
        assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
        p.set_state(gst::State::Null).unwrap();
    }
    let (inferences, executions) = server.statistics("style_mosaic_rt");
    // 48 frames (the start probe and the warm-up of each element add a few more).
    assert!(inferences - before_inferences >= 48, "{inferences}");
    assert!(
        executions < inferences,
        "Triton batched nothing: {executions} executions for {inferences} inferences"
    );
    eprintln!("style_mosaic_rt: {inferences} inferences in {executions} executions");
}

#[test]
fn server_faults_end_in_named_errors() {
    let _serial = one_at_a_time();
    // No server: a start error naming the address.
    let port = free_port();
    let e = frame_through(&format!(
        "onnxstyletransfer inference-server=grpc://127.0.0.1:{port} model-name=x \
         request-timeout=2000"
    ))
    .unwrap_err();
    assert!(
        e.contains(&format!(
            "cannot reach the inference server at grpc://127.0.0.1:{port}"
        )),
        "{e}"
    );
    let mut server = Server::start_on(port, &["style_mosaic_rt.onnx"], &[]);
    let url = server.url();
    // A model the server does not have: named, with the models it has.
    let e = frame_through(&format!(
        "onnxstyletransfer inference-server={url} model-name=nope"
    ))
    .unwrap_err();
    assert!(
        e.contains("model 'nope': no such model") && e.contains("check model-name"),
        "{e}"
    );
    // A model of the wrong kind for the element: its config parameters say what it is.
    let e = frame_through(&format!(
        "onnxsegmentation inference-server={url} model-name=style_mosaic_rt"
    ))
    .unwrap_err();
    assert!(e.contains("its metadata says kind 'style'"), "{e}");
    // A setting without a model name.
    let e = frame_through(&format!("onnxstyletransfer inference-server={url}")).unwrap_err();
    assert!(e.contains("set model-name"), "{e}");

    // The server killed mid-stream and not back within request-timeout: a frame error.
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,format=RGB,width=64,height=48,framerate=10/1 ! \
         onnxstyletransfer inference-server={url} model-name=style_mosaic_rt request-timeout=1500 ! \
         fakesink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Instant::now();
    server.stop();
    let text = stopping_error(&pipeline, 30, "an error after the server went away").to_string();
    assert!(
        text.contains(&format!(
            "the inference server at {url}, model 'style_mosaic_rt'"
        )) && (text.contains("unavailable") || text.contains("no answer")),
        "{text}"
    );
    assert!(killed.elapsed() < Duration::from_secs(30), "no hang");
}

#[test]
fn a_server_restarted_within_the_timeout_is_reconnected_to() {
    let _serial = one_at_a_time();
    let port = free_port();
    let mut server = Server::start_on(port, &["pencil_sketch.onnx"], &[]);
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=400 ! video/x-raw,format=RGB,width=64,height=48 ! \
         onnxstyletransfer inference-server={} model-name=pencil_sketch request-timeout=60000 ! \
         identity sleep-time=20000 ! fakesink sync=false",
        server.url()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    server.stop();
    let _restarted = Server::start_on(port, &["pencil_sketch.onnx"], &[]);
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the stream ends");
    pipeline.set_state(gst::State::Null).unwrap();
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("the stream goes on after the restart: {}", e.error());
    }
}

#[test]
fn a_slow_server_ends_in_a_timeout_error_not_a_hang() {
    let _serial = one_at_a_time();
    // Every batch takes 1.5 s on the server; the element waits 0.5 s for an answer.
    let server = Server::start(&["pencil_sketch.onnx"], &["--delay-ms", "1500"]);
    let started = Instant::now();
    let e = frame_through(&format!(
        "onnxstyletransfer inference-server={} model-name=pencil_sketch request-timeout=500",
        server.url()
    ))
    .unwrap_err();
    assert!(
        e.contains("model 'pencil_sketch': no answer within the request timeout")
            && e.contains("raise request-timeout"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(20), "no hang");
}

/// The `autoencoder-inference-failed` messages and the warnings `pipeline` posted so far,
/// waiting up to `wait` for one whose `recovered` field is `until_recovered`.
fn failure_messages(
    bus: &gst::Bus,
    seen: &mut Vec<gst::Structure>,
    warnings: &mut Vec<String>,
    until_recovered: bool,
    wait: Duration,
) {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Error(e) => panic!("no element error: {}", e.error()),
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == "autoencoder-inference-failed" {
                    seen.push(s.to_owned());
                    if s.get::<bool>("recovered").unwrap() == until_recovered {
                        return;
                    }
                }
            }
            _ => {}
        }
    }
    panic!(
        "no 'autoencoder-inference-failed' message with recovered={until_recovered} in {wait:?}"
    );
}

#[test]
fn with_on_inference_error_pass_an_outage_is_counted_and_the_stream_goes_on() {
    let _serial = one_at_a_time();
    let processed = frame_through(&format!(
        "onnxstyletransfer model-file={}",
        model("pencil_sketch.onnx")
    ))
    .unwrap();
    let unprocessed = frame_through("identity").unwrap();
    assert_ne!(processed, unprocessed);
    let port = free_port();
    let mut server = Server::start_on(port, &["pencil_sketch.onnx"], &[]);
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=smpte75 ! \
         video/x-raw,format=RGB,width=64,height=48,framerate=20/1 ! \
         onnxstyletransfer name=style inference-server={} model-name=pencil_sketch \
         request-timeout=1000 on-inference-error=pass ! appsink name=sink sync=false",
        server.url()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    // Each frame out: its offset (videotestsrc numbers them) and whether it was processed.
    let frames = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u64, bool)>::new()));
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let seen = frames.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buffer = sample.buffer().unwrap();
                let data = buffer.map_readable().unwrap();
                let is_processed = match &data[..] {
                    d if d == processed.as_slice() => true,
                    d if d == unprocessed.as_slice() => false,
                    _ => panic!(
                        "frame {} is neither processed nor unprocessed",
                        buffer.offset()
                    ),
                };
                seen.lock().unwrap().push((buffer.offset(), is_processed));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let processed_count = |frames: &[(u64, bool)]| frames.iter().filter(|f| f.1).count();
    let wait_processed = |more: usize| {
        let until = processed_count(&frames.lock().unwrap()) + more;
        let deadline = Instant::now() + Duration::from_secs(60);
        while processed_count(&frames.lock().unwrap()) < until {
            assert!(Instant::now() < deadline, "no processed frames");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    wait_processed(10);
    let (mut messages, mut warnings) = (Vec::new(), Vec::new());
    server.stop();
    failure_messages(
        &bus,
        &mut messages,
        &mut warnings,
        false,
        Duration::from_secs(30),
    );
    let _restarted = Server::start_on(port, &["pencil_sketch.onnx"], &[]);
    failure_messages(
        &bus,
        &mut messages,
        &mut warnings,
        true,
        Duration::from_secs(60),
    );
    wait_processed(10);
    pipeline.send_event(gst::event::Eos::new());
    let eos = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the stream ends");
    assert!(matches!(eos.view(), gst::MessageView::Eos(_)), "{eos:?}");
    let style = pipeline.by_name("style").unwrap();
    let failed_frames = style.property::<u64>("failed-frames");
    pipeline.set_state(gst::State::Null).unwrap();

    let frames = frames.lock().unwrap().clone();
    // Nothing lost: every frame the source made came out, in order.
    for (i, (offset, _)) in frames.iter().enumerate() {
        assert_eq!(*offset, i as u64, "frame {i} is missing or out of order");
    }
    // Processed, then the outage's frames unprocessed (never an older frame's result), then
    // processed again.
    let runs: Vec<(bool, usize)> = frames
        .chunk_by(|a, b| a.1 == b.1)
        .map(|r| (r[0].1, r.len()))
        .collect();
    assert!(
        runs.len() == 3 && runs[0].0 && !runs[1].0 && runs[2].0,
        "processed, unprocessed, processed: {runs:?}"
    );
    println!("frames processed / unprocessed / processed: {runs:?}");
    let failed = runs[1].1 as u64;
    assert_eq!(
        failed_frames, failed,
        "failed-frames counts the unprocessed frames"
    );
    // The bus: a warning and a message when the failures began, a message when they ended.
    assert_eq!(messages.len(), 2, "{messages:?}");
    let (began, ended) = (&messages[0], &messages[1]);
    assert_eq!(began.get::<u64>("failed").unwrap(), 1);
    assert!(!began.get::<bool>("recovered").unwrap());
    let error = began.get::<String>("error").unwrap();
    assert!(
        error.contains(&format!("the inference server at grpc://127.0.0.1:{port}")),
        "{error}"
    );
    assert_eq!(ended.get::<u64>("failed").unwrap(), failed);
    assert_eq!(ended.get::<u64>("total").unwrap(), failed);
    assert!(ended.get::<bool>("recovered").unwrap());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(&format!("grpc://127.0.0.1:{port}")),
        "{warnings:?}"
    );
}

#[test]
fn a_shape_the_server_refuses_ends_in_a_named_error() {
    let _serial = one_at_a_time();
    // The model redeployed mid-stream with a fixed 32x32 input (as a TensorRT engine built for
    // one size would be): Triton refuses the 64x48 frames the element was started for.
    let port = free_port();
    let mut server = Server::start_on(port, &["pencil_sketch.onnx"], &[]);
    let url = server.url();
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=smpte75 ! \
         video/x-raw,format=RGB,width=64,height=48,framerate=20/1 ! \
         onnxstyletransfer inference-server={url} model-name=pencil_sketch \
         request-timeout=60000 ! fakesink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    server.stop();
    let _fixed = Server::start_on(port, &["pencil_sketch.onnx"], &["--input-size", "32x32"]);
    let error = stopping_error(&pipeline, 60, "an error for the refused frame");
    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "the inference server at {url}, model 'pencil_sketch' refused the request"
        )) && text.contains("the element sent [1,3,48,64]")
            && text.contains("it is now [-1, 3, 32, 32]")
            && text.contains("restart the pipeline"),
        "{text}"
    );
    assert!(error.matches(gst::StreamError::Failed), "{error:?}");
    // Started again, the element reads the new description and fits frames to 32x32.
    let frame = frame_through(&format!(
        "onnxstyletransfer inference-server={url} model-name=pencil_sketch"
    ))
    .unwrap();
    assert_eq!(frame.len(), 64 * 48 * 3);
}
