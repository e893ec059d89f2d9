// SPDX-License-Identifier: MIT OR Apache-2.0
//! The runner when an inference fails (what `on-inference-error=pass` builds on), blocking and
//! on its own thread: the failure is reported once, where it is asked for (`submit`, `finish`,
//! `take_error`), never by `with_latest`; a withheld result is not handed out until a newer
//! one finishes. The fixture fails inside ONNX Runtime when the input's first value is at
//! least 0.5 (tests/fixtures/make_failing_fixtures.py) and otherwise returns 1 - input.

use gstautoencoder::inference::resize::Size;
use gstautoencoder::inference::{
    Error, InferenceSession, ProviderChoice, RunOutput, Runner, SessionConfig, Task, TensorLayout,
};

/// The model's first output value.
struct FirstValue;

impl Task for FirstValue {
    type Output = f32;

    fn read(&mut self, run: &RunOutput, _: TensorLayout, out: &mut f32) -> Result<(), Error> {
        *out = run.values[0];
        Ok(())
    }
}

fn session() -> InferenceSession {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fails_when_bright_style.onnx");
    let config = SessionConfig {
        provider: ProviderChoice::Cpu,
        ..Default::default()
    };
    InferenceSession::load(&model, &config).expect("loads")
}

const LAYOUT: TensorLayout = TensorLayout {
    channels: 3,
    tensor: Size {
        width: 8,
        height: 6,
    },
    content: Size {
        width: 8,
        height: 6,
    },
};

/// Submits a flat input of `value` (0.25 runs, 1.0 fails).
fn submit(runner: &mut Runner<FirstValue>, value: f32) -> Result<bool, Error> {
    runner.submit(LAYOUT, |tensor| {
        tensor.fill(value);
        Ok(())
    })
}

/// The newest result handed out: (generation, value).
fn latest(runner: &Runner<FirstValue>) -> Option<(u64, f32)> {
    runner.with_latest(|latest| latest.map(|l| (l.generation, *l.output)))
}

#[test]
fn a_blocking_failure_is_returned_and_the_older_result_can_be_withheld() {
    let mut runner = Runner::blocking(session(), FirstValue);
    assert!(submit(&mut runner, 0.25).unwrap());
    assert_eq!(latest(&runner), Some((1, 0.75)));
    let e = submit(&mut runner, 1.0).unwrap_err();
    assert!(e.to_string().contains("out of data bounds"), "{e}");
    // The failed frame's result is not there; the older one still is, until withheld.
    assert_eq!(latest(&runner), Some((1, 0.75)));
    runner.withhold_result();
    assert!(runner.result_withheld());
    assert_eq!(latest(&runner), None);
    assert!(
        runner.take_error().is_none(),
        "a blocking failure was returned at once"
    );
    assert!(submit(&mut runner, 0.25).unwrap());
    assert!(!runner.result_withheld());
    assert_eq!(latest(&runner), Some((2, 0.75)));
}

#[test]
fn a_background_failure_waits_for_take_error_and_is_reported_once() {
    let mut runner = Runner::background(session(), FirstValue, "runner-test").unwrap();
    assert!(submit(&mut runner, 0.25).unwrap());
    runner.finish().unwrap();
    assert_eq!(latest(&runner), Some((1, 0.75)));
    assert!(submit(&mut runner, 1.0).unwrap());
    while !runner.is_idle() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // Drawing reads the newest result without taking the failure.
    assert_eq!(latest(&runner), Some((1, 0.75)));
    let e = runner
        .take_error()
        .expect("the failure is kept for take_error");
    assert!(e.to_string().contains("out of data bounds"), "{e}");
    assert!(runner.take_error().is_none(), "reported once");
    assert!(runner.finish().is_ok(), "and not again at finish");
    runner.withhold_result();
    assert_eq!(latest(&runner), None);
    assert!(submit(&mut runner, 0.25).unwrap());
    runner.finish().unwrap();
    assert_eq!(latest(&runner), Some((2, 0.75)));
    assert!(!runner.result_withheld());
    // A failure not taken is returned by the next submit instead.
    assert!(submit(&mut runner, 1.0).unwrap());
    while !runner.is_idle() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(submit(&mut runner, 0.25).is_err());
}
