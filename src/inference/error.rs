// SPDX-License-Identifier: MIT OR Apache-2.0
//! The core's one error type: a message in the user's terms and the kind of failure, which
//! says what an application can do about it (and which GStreamer error domain it maps to).

use std::fmt;
use std::path::Path;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A file that is needed does not exist: the model, or its external weights.
    NotFound,
    /// A file exists but cannot be used: no permission, a directory, a FIFO, not ONNX.
    Unreadable,
    /// The ONNX Runtime library, a provider's libraries or the GPU driver cannot be loaded or
    /// started.
    Runtime,
    /// A setting, a model's interface or its metadata cannot be used.
    Settings,
    /// An inference, or the work around it, failed on a frame.
    Inference,
    /// A thread could not be started.
    Thread,
    /// The inference server cannot be reached, went away, or did not answer in time.
    Server,
}

/// An error with its kind; the message names the problem and, where there is one, the remedy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// The core's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message` (what went wrong and, where there is one, the remedy).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// An [`ErrorKind::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// An [`ErrorKind::Unreadable`] error.
    pub fn unreadable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unreadable, message)
    }

    /// An [`ErrorKind::Runtime`] error.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Runtime, message)
    }

    /// An [`ErrorKind::Settings`] error.
    pub fn settings(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Settings, message)
    }

    /// An [`ErrorKind::Inference`] error.
    pub fn inference(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Inference, message)
    }

    /// An [`ErrorKind::Thread`] error.
    pub fn thread(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Thread, message)
    }

    /// An [`ErrorKind::Server`] error.
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Server, message)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message (the same text as `Display` writes).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error, its message after `context` ("context: message").
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl Error {
    /// The same error, `remedy` (what to do about it) after its message ("message; remedy").
    pub fn remedy(self, remedy: impl fmt::Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{}; {remedy}", self.message),
        }
    }
}

impl PartialEq<str> for Error {
    fn eq(&self, other: &str) -> bool {
        self.message == other
    }
}

impl PartialEq<&str> for Error {
    fn eq(&self, other: &&str) -> bool {
        self.message == *other
    }
}

/// The most memory one tensor may take by default: 2 GiB, 16 times an 8K frame's input
/// tensor. A model whose fixed input, size multiple or output asks for more is refused before
/// anything is allocated (a hostile or broken model must not take the process down); the
/// `max-tensor-bytes` property raises it for models that need more.
pub const MAX_TENSOR_BYTES: usize = 2 << 30;

/// The number of f32 elements of a tensor of `shape`, computed without overflow and refused
/// (naming `what` and the shape) when the tensor would take more than `limit` bytes.
pub fn checked_tensor_len(what: &str, shape: &[usize], limit: usize) -> Result<usize> {
    let len = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let bytes = len.and_then(|n| n.checked_mul(size_of::<f32>()));
    match (len, bytes) {
        (Some(len), Some(bytes)) if bytes <= limit => Ok(len),
        _ => Err(Error::settings(format!(
            "{what} would be {}, {}; a tensor may take at most {} (property max-tensor-bytes): \
             check the model's input size, its size_multiple and the size-multiple property",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("x"),
            bytes.map_or("more bytes than memory can address".to_owned(), mib),
            mib(limit)
        ))),
    }
}

/// Bytes as messages show them: whole MiB, or bytes below one MiB.
fn mib(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// A path as messages show it: relative paths resolved against the current directory, so that
/// "does not exist" says where it looked.
pub fn shown(path: &Path) -> String {
    // A model on an inference server (grpc://host:port/name) is not a file.
    let remote = path.to_str().is_some_and(|p| p.contains("://"));
    if path.is_relative()
        && !remote
        && !path.as_os_str().is_empty()
        && let Ok(cwd) = std::env::current_dir()
    {
        return cwd.join(path).display().to_string();
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_shown_resolved() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            shown(Path::new("models/x.onnx")),
            cwd.join("models/x.onnx").display().to_string()
        );
        assert_eq!(shown(Path::new("/abs/x.onnx")), "/abs/x.onnx");
    }

    #[test]
    fn tensor_sizes_are_checked_without_overflow() {
        assert_eq!(checked_tensor_len("t", &[1, 3, 4, 5], 240).unwrap(), 60);
        assert!(checked_tensor_len("t", &[1, 3, 4, 5], 239).is_err());
        let huge = checked_tensor_len("the input tensor", &[1, 3, 65536, 65536], MAX_TENSOR_BYTES)
            .unwrap_err();
        assert_eq!(huge.kind(), ErrorKind::Settings);
        assert!(
            huge.message().starts_with("the input tensor would be 1x3x65536x65536, 49152 MiB; a tensor may take at most 2048 MiB"),
            "{huge}"
        );
        let overflow =
            checked_tensor_len("t", &[1, 3, 1 << 31, 1 << 31], MAX_TENSOR_BYTES).unwrap_err();
        assert!(
            overflow
                .message()
                .contains("more bytes than memory can address"),
            "{overflow}"
        );
    }

    #[test]
    fn context_keeps_the_kind() {
        let e = Error::not_found("no such file").context("model 'm'");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), "model 'm': no such file");
    }
}
