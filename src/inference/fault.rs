// SPDX-License-Identifier: MIT OR Apache-2.0
//! Faults on request, for tests only (cargo feature `fault-injection`, never in a release
//! build): a model whose metadata has `fault_injection=panic` makes our code panic right after
//! its inference, as a bug would, so tests can check that a panic ends in an element error.

use super::InferenceSession;

/// The metadata key that asks for a fault.
pub const KEY: &str = "fault_injection";

/// Test builds only: panics when the session's model asks for it (a `panic_*` fixture), to check that a panic in our code ends in an element error.
pub fn inject(session: &InferenceSession) {
    if session.description().metadata.get(KEY).map(String::as_str) == Some("panic") {
        panic!("fault injection: a panic after inference, as the model's metadata asked");
    }
}
