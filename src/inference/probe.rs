// SPDX-License-Identifier: MIT OR Apache-2.0
//! Running the model once at start, on a small blank input, before any frame: it finds the
//! size multiple a dynamic-size model needs when neither its metadata nor the `size-multiple`
//! property says, and it checks the output against the element's rules (class count, batch,
//! reconstruction size) while the failure can still be a start error.
//!
//! A model that needs its height and width to be multiples of some M (strided convolutions,
//! pooling, a detector's feature pyramid) either fails on other sizes or pads inside and
//! returns an output that is not proportional to its input (336x252 for 333x250). Each
//! candidate M (powers of two up to [`LARGEST_FOUND_MULTIPLE`]) is tried on an input whose
//! sides are odd multiples of M, so that a smaller M would not do; the first M whose output is
//! proportional to the input and that the task accepts is the model's.

use std::fmt;

use super::error::{Error, ErrorKind};
use super::model::{Dim, InputSpec};
use super::resize::Size;
use super::runner::Task;
use super::session::InferenceSession;
use super::tensor_input::TensorLayout;

/// The largest size multiple a probe looks for.
pub const LARGEST_FOUND_MULTIPLE: usize = 64;

/// Probe inputs are at least this size (width, height): large enough for reflection padding
/// and several pooling stages, small enough to cost milliseconds.
const PROBE_AT_LEAST: Size = Size {
    width: 96,
    height: 72,
};

/// Where the size multiple in use comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipleSource {
    /// The model's metadata or the `size-multiple` property said it.
    Declared,
    /// Found: the smallest multiple at which the model ran and kept its proportions.
    Found,
    /// The model's input size is fixed: frames are resized to it, no multiple applies.
    FixedInput,
    /// No probe input ran (the first reason given): the declared multiple, else 1, is used
    /// and the first frame size decides.
    NotFound(String),
}

impl fmt::Display for MultipleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MultipleSource::Declared => "declared",
            MultipleSource::Found => "found",
            MultipleSource::FixedInput => "fixed-input",
            MultipleSource::NotFound(_) => "not-found",
        })
    }
}

/// What running the model at start found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The size multiple dynamic sides are padded to.
    pub multiple: usize,
    /// Where it comes from.
    pub source: MultipleSource,
    /// The input size the model ran on at start (None: no probe input ran).
    pub ran_on: Option<Size>,
}

/// Runs `session`'s model at start: finds the size multiple (when `declared` is None and an
/// input side is dynamic) and checks the output with `task`. An error is a rule the output
/// breaks whatever the input size (or a probe input beyond the tensor bound); inputs the model
/// refuses only make it try the next candidate.
pub fn probe<T: Task>(
    session: &mut InferenceSession,
    task: &mut T,
    declared: Option<usize>,
) -> Result<Probe, Error> {
    let input = session.description().input.clone();
    let fixed = input.fixed_size().is_some();
    let candidates: Vec<usize> = match declared {
        _ if fixed => vec![1],
        Some(m) => vec![m],
        None => std::iter::successors(Some(1usize), |m| Some(m * 2))
            .take_while(|m| *m <= LARGEST_FOUND_MULTIPLE)
            .collect(),
    };
    let mut first_refusal = None;
    for multiple in candidates {
        let size = probe_size(&input, multiple);
        match try_input(session, task, size, !fixed)? {
            Ok(()) => {
                let source = match declared {
                    _ if fixed => MultipleSource::FixedInput,
                    Some(_) => MultipleSource::Declared,
                    None => MultipleSource::Found,
                };
                return Ok(Probe {
                    multiple,
                    source,
                    ran_on: Some(size),
                });
            }
            Err(why) => {
                first_refusal.get_or_insert(format!("{}x{}: {why}", size.width, size.height));
            }
        }
    }
    Ok(Probe {
        multiple: declared.unwrap_or(1),
        source: MultipleSource::NotFound(first_refusal.unwrap_or_default()),
        ran_on: None,
    })
}

/// The probe input for `multiple`: each dynamic side the smallest odd multiple of it that
/// reaches [`PROBE_AT_LEAST`] (odd, so that twice the multiple would not fit), fixed sides
/// as the model has them.
fn probe_size(input: &InputSpec, multiple: usize) -> Size {
    let side = |dim: Dim, at_least: usize| match dim {
        Dim::Fixed(n) => n,
        Dim::Dynamic => {
            let odd = at_least.div_ceil(multiple) | 1;
            multiple.saturating_mul(odd)
        }
    };
    Size {
        width: side(input.width, PROBE_AT_LEAST.width),
        height: side(input.height, PROBE_AT_LEAST.height),
    }
}

/// Runs the model on a blank `size` input. Ok(Err(why)): the model refused this size (or
/// its output is not proportional to it, when `proportional` is asked), another may do;
/// Err: a failure no input size can mend.
fn try_input<T: Task>(
    session: &mut InferenceSession,
    task: &mut T,
    size: Size,
    proportional: bool,
) -> Result<Result<(), String>, Error> {
    let at = |e: Error| {
        e.context(format!(
            "on a {}x{} input at start",
            size.width, size.height
        ))
    };
    let refused = |e: Error| match e.kind() {
        ErrorKind::Inference => Ok(Err(e.message().to_owned())),
        _ => Err(at(e)),
    };
    let channels = session.description().input.channels;
    match session.input_mut(size.width, size.height) {
        Ok(tensor) => tensor.fill(0.0),
        Err(e) => return refused(e),
    }
    let run = match session.run() {
        Ok(run) => run,
        Err(e) => return refused(e),
    };
    if let [_, _, out_h, out_w] = *run.shape {
        let out = Size {
            width: usize::try_from(out_w).unwrap_or(0),
            height: usize::try_from(out_h).unwrap_or(0),
        };
        if out.width == 0 || out.height == 0 {
            return Err(at(Error::settings(format!(
                "the model returned an empty output {}x{}",
                out.width, out.height
            ))));
        }
        if proportional && !is_proportional(size, out) {
            return Ok(Err(format!(
                "the output is {}x{}, not in proportion to the input (padded inside?)",
                out.width, out.height
            )));
        }
    }
    let layout = TensorLayout {
        channels,
        tensor: size,
        content: size,
    };
    let mut scratch = T::Output::default();
    // A rule the output breaks is the model's interface, whatever this input was.
    task.read(&run, layout, &mut scratch)
        .map_err(|e| at(Error::settings(e.message())))?;
    Ok(Ok(()))
}

/// Whether `output` is `input` scaled by one whole factor, up or down, on both sides (an
/// image or score map at the input's size, a super-resolved image, a map at 1/4 size).
fn is_proportional(input: Size, output: Size) -> bool {
    let whole = |a: usize, b: usize| a.is_multiple_of(b) || b.is_multiple_of(a);
    output.width * input.height == output.height * input.width
        && whole(output.width, input.width)
        && whole(output.height, input.height)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dynamic() -> InputSpec {
        InputSpec {
            name: "input".into(),
            channels: 3,
            height: Dim::Dynamic,
            width: Dim::Dynamic,
        }
    }

    #[test]
    fn probe_sides_are_odd_multiples_of_the_candidate() {
        for m in [1, 2, 4, 8, 16, 32, 64] {
            let s = probe_size(&dynamic(), m);
            for side in [s.width, s.height] {
                assert!(side.is_multiple_of(m), "{m}: {s:?}");
                assert!(!side.is_multiple_of(2 * m), "{m}: {s:?}");
            }
            assert!(s.width >= 96 && s.height >= 72, "{m}: {s:?}");
        }
        assert_eq!(
            probe_size(&dynamic(), 1),
            Size {
                width: 97,
                height: 73
            }
        );
        let one_fixed = InputSpec {
            height: Dim::Fixed(16),
            ..dynamic()
        };
        assert_eq!(probe_size(&one_fixed, 4).height, 16);
    }

    #[test]
    fn proportional_means_one_whole_factor_on_both_sides() {
        let input = Size {
            width: 100,
            height: 76,
        };
        let size = |width, height| Size { width, height };
        assert!(is_proportional(input, size(100, 76)));
        assert!(is_proportional(input, size(200, 152)));
        assert!(is_proportional(input, size(25, 19)));
        assert!(!is_proportional(input, size(104, 80)), "padded inside");
        assert!(!is_proportional(input, size(200, 76)), "one side only");
        assert!(!is_proportional(input, size(50, 76)));
    }
}
