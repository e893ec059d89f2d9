// SPDX-License-Identifier: MIT OR Apache-2.0
//! Caps across a super-resolution element: the source side is the sink side with width and
//! height times the model's factor; everything else (format, pixel-aspect-ratio, framerate)
//! passes unchanged.
//!
//! Ranges are kept within [`MAX_OUTPUT_SIDE`] so that a flexible upstream picks a size the
//! element can make. A fixed size is scaled even when the result is too large (or, going
//! upstream, not a multiple of the factor) rather than dropped: negotiation then reaches the
//! element, which says precisely what is wrong, instead of the source reporting only
//! "not-negotiated".

use gst::glib;
use gst::prelude::*;

use crate::inference::superres::MAX_OUTPUT_SIDE;

/// Which way caps are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Sink caps to source caps: sides times the factor.
    Up,
    /// Source caps to sink caps: sides divided by the factor.
    Down,
}

/// `caps` carried across the element by `factor`; `None` factor (not started): any size.
pub fn transform(caps: &gst::Caps, factor: Option<usize>, way: Way) -> gst::Caps {
    let mut other = gst::Caps::new_empty();
    for (s, features) in caps.iter_with_features() {
        let mut s = s.to_owned();
        let mut usable = true;
        for field in ["width", "height"] {
            let Some(value) = s.value(field).ok() else {
                continue;
            };
            match factor.and_then(|f| side(value, f as i32, way)) {
                Some(v) => s.set_value(field, v),
                None if factor.is_none() => s.set(field, gst::IntRange::new(1, i32::MAX)),
                None => usable = false,
            }
        }
        if usable {
            other
                .make_mut()
                .append_structure_full(s, Some(features.to_owned()));
        }
    }
    other
}

/// One side's value carried by `factor`: an int, a range or a list of them.
fn side(value: &glib::SendValue, factor: i32, way: Way) -> Option<glib::SendValue> {
    let max = i32::try_from(MAX_OUTPUT_SIDE).unwrap_or(i32::MAX);
    if let Ok(n) = value.get::<i32>() {
        return Some(
            match way {
                // Too large: scaled anyway (saturating); the element refuses it by name.
                Way::Up => n.saturating_mul(factor),
                // Not a multiple: the nearest below; the element says downstream refuses it.
                Way::Down => (n / factor).max(1),
            }
            .to_send_value(),
        );
    }
    if let Ok(range) = value.get::<gst::IntRange<i32>>() {
        let (min, hi) = match way {
            Way::Up => (
                range.min().saturating_mul(factor),
                range.max().saturating_mul(factor).min(max),
            ),
            Way::Down => (
                (range.min().saturating_add(factor - 1) / factor).max(1),
                range.max().min(max) / factor,
            ),
        };
        return (min <= hi).then(|| gst::IntRange::new(min, hi).to_send_value());
    }
    if let Ok(list) = value.get::<gst::List>() {
        let values: Vec<glib::SendValue> =
            list.iter().filter_map(|v| side(v, factor, way)).collect();
        return (!values.is_empty()).then(|| gst::List::new(values).to_send_value());
    }
    None
}

/// Fixates `othercaps` (the side opposite `caps`, already carried) nearest to `caps` carried
/// by `factor`, keeping `caps`' pixel-aspect-ratio and framerate where `othercaps` allow.
pub fn fixate(caps: &gst::Caps, othercaps: gst::Caps, factor: usize, way: Way) -> gst::Caps {
    let mut othercaps = othercaps;
    othercaps.truncate();
    let factor = i32::try_from(factor).unwrap_or(1);
    if let (Some(from), Some(s)) = (caps.structure(0), othercaps.make_mut().structure_mut(0)) {
        for field in ["width", "height"] {
            if let Ok(n) = from.get::<i32>(field) {
                let target = match way {
                    Way::Up => n.saturating_mul(factor),
                    Way::Down => n / factor,
                };
                s.fixate_field_nearest_int(field, target);
            }
        }
        if let Ok(par) = from.get::<gst::Fraction>("pixel-aspect-ratio") {
            if s.has_field("pixel-aspect-ratio") {
                s.fixate_field_nearest_fraction("pixel-aspect-ratio", par);
            } else {
                s.set("pixel-aspect-ratio", par);
            }
        }
        if let Ok(rate) = from.get::<gst::Fraction>("framerate")
            && s.has_field("framerate")
        {
            s.fixate_field_nearest_fraction("framerate", rate);
        }
    }
    othercaps.fixate();
    othercaps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(text: &str) -> gst::Caps {
        text.parse().unwrap()
    }

    #[test]
    fn sides_are_scaled_both_ways() {
        gst::init().unwrap();
        let up = transform(
            &caps("video/x-raw,format=RGB,width=640,height=360,pixel-aspect-ratio=1/1"),
            Some(2),
            Way::Up,
        );
        assert_eq!(
            up,
            caps("video/x-raw,format=RGB,width=1280,height=720,pixel-aspect-ratio=1/1")
        );
        let down = transform(
            &caps("video/x-raw,format=RGB,width=[2,100],height={720,1080}"),
            Some(2),
            Way::Down,
        );
        assert_eq!(
            down,
            caps("video/x-raw,format=RGB,width=[1,50],height={360,540}")
        );
        let ranges = transform(
            &caps("video/x-raw,width=[1,2147483647],height=[1,2147483647]"),
            Some(4),
            Way::Up,
        );
        assert_eq!(ranges, caps("video/x-raw,width=[4,16384],height=[4,16384]"));
    }

    #[test]
    fn fixed_sizes_that_cannot_be_made_still_reach_the_element() {
        gst::init().unwrap();
        let up = transform(&caps("video/x-raw,width=9000,height=10"), Some(2), Way::Up);
        assert_eq!(up, caps("video/x-raw,width=18000,height=20"));
        let down = transform(
            &caps("video/x-raw,width=1281,height=720"),
            Some(2),
            Way::Down,
        );
        assert_eq!(down, caps("video/x-raw,width=640,height=360"));
        let any = transform(&caps("video/x-raw,width=64,height=48"), None, Way::Up);
        assert_eq!(
            any,
            caps("video/x-raw,width=[1,2147483647],height=[1,2147483647]")
        );
    }

    #[test]
    fn fixation_follows_the_other_side() {
        gst::init().unwrap();
        let sink = caps(
            "video/x-raw,format=RGB,width=320,height=240,pixel-aspect-ratio=4/3,framerate=30/1",
        );
        let other = transform(&sink, Some(3), Way::Up);
        let fixed = fixate(&sink, other, 3, Way::Up);
        assert_eq!(
            fixed,
            caps(
                "video/x-raw,format=RGB,width=960,height=720,pixel-aspect-ratio=4/3,framerate=30/1"
            )
        );
    }
}
