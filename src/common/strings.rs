// SPDX-License-Identifier: MIT OR Apache-2.0
//! String properties read and written without assuming UTF-8. GObject strings are C strings,
//! and Linux file names are bytes: a C program may set any bytes, and reading them as a Rust
//! `String` would panic inside a GObject vfunc, which aborts the host process.

use std::ffi::{CStr, CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use gst::glib;
use gst::glib::translate::{ToGlibPtr, ToGlibPtrMut};

/// The bytes of a string value (None for NULL).
pub fn bytes_of(value: &glib::Value) -> Option<Vec<u8>> {
    if !value.type_().is_a(glib::Type::STRING) {
        return None;
    }
    // SAFETY: the value holds a string (checked above); g_value_get_string returns NULL or a
    // NUL-terminated string that the value owns while we copy it.
    unsafe {
        let ptr = glib::gobject_ffi::g_value_get_string(value.to_glib_none().0);
        (!ptr.is_null()).then(|| CStr::from_ptr(ptr).to_bytes().to_vec())
    }
}

/// A path property: any bytes are a path; NULL or empty means unset.
pub fn path_of(value: &glib::Value) -> Option<PathBuf> {
    bytes_of(value)
        .filter(|b| !b.is_empty())
        .map(|b| PathBuf::from(OsString::from_vec(b)))
}

/// A text property (`mean`, `std`, `palette`): NULL or empty means unset; bytes that are not
/// UTF-8 are refused (Err), so that the caller keeps the previous value and warns.
pub fn text_of(value: &glib::Value) -> Result<Option<String>, ()> {
    match bytes_of(value).filter(|b| !b.is_empty()) {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| ()),
    }
}

/// A path as a string value, its bytes as they are (None: NULL).
pub fn path_value(path: Option<&Path>) -> glib::Value {
    let mut value = glib::Value::for_value_type::<String>();
    // A path that came from a GValue has no NUL byte; one that has cannot be a C string.
    if let Some(c) = path.and_then(|p| CString::new(p.as_os_str().as_bytes()).ok()) {
        // SAFETY: a string value, and a NUL-terminated string that g_value_set_string copies.
        unsafe { glib::gobject_ffi::g_value_set_string(value.to_glib_none_mut().0, c.as_ptr()) };
    }
    value
}

/// Says, as GObject does for a value it refuses, that property `name` got bytes that are not
/// UTF-8 text, and that the previous value stays.
pub fn warn_not_text(element: &str, name: &str) {
    glib::g_warning!(
        "gstautoencoder",
        "{element}: the value given to property '{name}' is not valid UTF-8 text; ignored, the \
         previous value stays"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(bytes: &[u8]) -> glib::Value {
        path_value(Some(Path::new(std::ffi::OsStr::from_bytes(bytes))))
    }

    #[test]
    fn bytes_survive_a_round_trip_and_text_must_be_utf8() {
        let value = raw(b"/tmp/mod\xffel.onnx");
        assert_eq!(bytes_of(&value).unwrap(), b"/tmp/mod\xffel.onnx");
        assert_eq!(
            path_of(&value).unwrap().as_os_str().as_bytes(),
            b"/tmp/mod\xffel.onnx"
        );
        assert_eq!(text_of(&value), Err(()));
        assert_eq!(text_of(&raw(b"1,2,3")), Ok(Some("1,2,3".into())));
        assert_eq!(text_of(&raw(b"")), Ok(None));
        assert_eq!(path_of(&path_value(None)), None);
    }
}
