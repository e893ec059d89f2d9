// SPDX-License-Identifier: MIT OR Apache-2.0
//! The input binding: two different frames through one `InferenceSession`, with the same calls
//! a GPU provider makes (the input is bound again before every run, because a GPU provider
//! copies a bound host tensor to the device at bind time and would otherwise run the first
//! frame forever). Each output must be its own frame's.

use gstautoencoder::inference::{InferenceSession, ProviderChoice, SessionConfig};

#[test]
fn two_frames_give_two_outputs_through_the_bound_tensors() {
    let model =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/channel_swap.onnx");
    let config = SessionConfig {
        provider: ProviderChoice::Cpu,
        ..Default::default()
    };
    let mut session = InferenceSession::load(&model, &config).expect("loads");
    let (h, w) = (6, 5);
    let plane = h * w;
    for frame in 0..3 {
        // A different input each time, written into the bound tensor in place.
        let input = session.input_mut(w, h).unwrap();
        for (i, v) in input.iter_mut().enumerate() {
            *v = (i * 7 + frame * 1000) as f32;
        }
        let expected: Vec<f32> = [2, 0, 1]
            .iter()
            .flat_map(|&c| input[c * plane..(c + 1) * plane].to_vec())
            .collect();
        let run = session.run().unwrap();
        assert_eq!(run.shape, [1, 3, h as i64, w as i64]);
        assert_eq!(run.values, expected.as_slice(), "frame {frame}");
    }
}
