// SPDX-License-Identifier: MIT OR Apache-2.0
//! Finding a model named by its bare name (`segmentation_unet` or `segmentation_unet.onnx`)
//! in the folders where models are installed, so that `model-file=segmentation_unet` works
//! from any directory once the models are installed.
//!
//! A `model-file` that has a `/` in it, or that names an existing file, keeps its meaning: a
//! path. Otherwise it is a bare name, looked up as given and with `.onnx` added, in each
//! folder of the search path in turn (see [`search_folders`]):
//!
//! 1. the folders of `GST_AUTOENCODER_MODEL_PATH` (separated by `:`), in their order;
//! 2. `<prefix>/share/gstautoencoder/models` of the installation the plugin was loaded from
//!    (`<prefix>` is the folder above the plugin's `lib` or `share` folder: `/usr` for
//!    `/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstautoencoder.so`, `~/.local` for
//!    `~/.local/share/gstreamer-1.0/plugins/libgstautoencoder.so`);
//! 3. `/usr/local/share/gstautoencoder/models`, then `/usr/share/gstautoencoder/models`.

use std::borrow::Cow;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::error::Error;

/// The environment variable naming folders (separated by `:`) searched first for a model
/// given by its bare name.
pub const MODEL_PATH_ENV_VAR: &str = "GST_AUTOENCODER_MODEL_PATH";

/// Where the models are installed under an installation prefix.
pub const MODELS_SUBDIR: &str = "share/gstautoencoder/models";

/// The prefixes whose model folder is searched after the plugin's own installation's.
const SYSTEM_PREFIXES: [&str; 2] = ["/usr/local", "/usr"];

/// The folders searched for a model given by its bare name, in order, without duplicates:
/// see the [module documentation](self).
pub fn search_folders() -> Vec<PathBuf> {
    folders_from(
        std::env::var_os(MODEL_PATH_ENV_VAR),
        super::runtime::plugin_directory().as_deref(),
    )
}

/// [`search_folders`] for a given `GST_AUTOENCODER_MODEL_PATH` and plugin folder.
fn folders_from(env: Option<OsString>, plugin_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = env
        .as_deref()
        .map(|value| {
            std::env::split_paths(value)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(prefix) = plugin_dir.and_then(installation_prefix) {
        folders.push(prefix.join(MODELS_SUBDIR));
    }
    folders.extend(
        SYSTEM_PREFIXES
            .iter()
            .map(|p| Path::new(p).join(MODELS_SUBDIR)),
    );
    let mut unique = Vec::with_capacity(folders.len());
    for folder in folders {
        if !unique.contains(&folder) {
            unique.push(folder);
        }
    }
    unique
}

/// The installation prefix of a plugin in `plugin_dir`: the folder above the nearest `lib`,
/// `lib64`, `lib32` or `share` among `plugin_dir` and its two parents
/// (`<prefix>/lib/gstreamer-1.0`, `<prefix>/lib/<triplet>/gstreamer-1.0`,
/// `<prefix>/share/gstreamer-1.0/plugins`). None for a build folder such as `target/release`.
fn installation_prefix(plugin_dir: &Path) -> Option<PathBuf> {
    plugin_dir
        .ancestors()
        .take(3)
        .find(|dir| {
            dir.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| matches!(n, "lib" | "lib64" | "lib32" | "share"))
        })
        .and_then(Path::parent)
        .filter(|prefix| !prefix.as_os_str().is_empty())
        .map(Path::to_path_buf)
}

/// Whether `model` is a bare name to search for: one plain file name (no `/`, not `.` or
/// `..`) that is not a file in the current folder. Anything else is a path, as it always was.
fn is_bare_name(model: &Path) -> bool {
    let mut components = model.components();
    matches!(
        (components.next(), components.next()),
        (Some(Component::Normal(_)), None)
    ) && !model.as_os_str().as_encoded_bytes().contains(&b'/')
        && std::fs::symlink_metadata(model).is_err()
}

/// The file names tried for a bare name: as given, then with `.onnx` added unless it ends so.
fn candidate_names(name: &Path) -> Vec<OsString> {
    let mut names = vec![name.as_os_str().to_owned()];
    if name.extension().is_none_or(|e| e != "onnx") {
        let mut with = name.as_os_str().to_owned();
        with.push(".onnx");
        names.push(with);
    }
    names
}

/// The model file `model` names: `model` itself when it is a path (or empty: that is for the
/// caller to report), else the first file of that bare name in [`search_folders`].
///
/// A bare name found nowhere is an [`ErrorKind::NotFound`](super::ErrorKind::NotFound) error
/// that lists every folder searched and says how to add one.
pub fn resolve(model: &Path) -> Result<Cow<'_, Path>, Error> {
    if model.as_os_str().is_empty() || !is_bare_name(model) {
        return Ok(Cow::Borrowed(model));
    }
    resolve_in(model, &search_folders()).map(Cow::Owned)
}

/// [`resolve`] for a bare name, in the given folders.
fn resolve_in(name: &Path, folders: &[PathBuf]) -> Result<PathBuf, Error> {
    let names = candidate_names(name);
    for folder in folders {
        for candidate in &names {
            let path = folder.join(candidate);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let tried = names
        .iter()
        .map(|n| Path::new(n).display().to_string())
        .collect::<Vec<_>>()
        .join(" or ");
    let searched = folders
        .iter()
        .map(|f| {
            let note = if f.is_dir() { "" } else { " (no such folder)" };
            format!("  - {}{note}", f.display())
        })
        .collect::<Vec<_>>()
        .join("\n");
    Err(Error::not_found(format!(
        "model file '{}' does not exist: it is not a file in the current folder ({cwd}), and \
         no model named {tried} is in the model folders searched:\n{searched}\n\
         Give the model's path, install the models (scripts/install.sh or the Debian package), \
         or add the model's folder to {MODEL_PATH_ENV_VAR} (folders separated by ':').",
        name.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system's temporary folder, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "ae-model-search-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn paths_and_existing_files_are_not_searched() {
        assert!(is_bare_name(Path::new("segmentation_unet")));
        assert!(is_bare_name(Path::new("segmentation_unet.onnx")));
        for path in ["models/x.onnx", "/abs/x.onnx", "./x.onnx", "x/", "..", "."] {
            assert!(!is_bare_name(Path::new(path)), "{path}");
        }
        // A file of that name in the current folder (the crate root under cargo test).
        assert!(!is_bare_name(Path::new("Cargo.toml")));
        assert_eq!(
            resolve(Path::new("Cargo.toml")).unwrap(),
            Path::new("Cargo.toml")
        );
        assert_eq!(
            resolve(Path::new("no/such.onnx")).unwrap(),
            Path::new("no/such.onnx")
        );
        assert_eq!(resolve(Path::new("")).unwrap(), Path::new(""));
    }

    #[test]
    fn a_bare_name_is_found_with_or_without_its_extension_in_folder_order() {
        let (first, second) = (TempDir::new("first"), TempDir::new("second"));
        std::fs::write(second.0.join("unet.onnx"), b"second").unwrap();
        std::fs::write(second.0.join("other.onnx"), b"other").unwrap();
        std::fs::write(first.0.join("unet.onnx"), b"first").unwrap();
        // A folder of the model's name is not the model.
        std::fs::create_dir(first.0.join("other.onnx")).unwrap();
        let folders = [first.0.clone(), second.0.clone()];
        for name in ["unet", "unet.onnx"] {
            assert_eq!(
                resolve_in(Path::new(name), &folders).unwrap(),
                first.0.join("unet.onnx"),
                "{name}"
            );
        }
        assert_eq!(
            resolve_in(Path::new("other"), &folders).unwrap(),
            second.0.join("other.onnx")
        );
        // A name as given is tried before the name with `.onnx` added.
        std::fs::write(second.0.join("plain"), b"plain").unwrap();
        std::fs::write(second.0.join("plain.onnx"), b"onnx").unwrap();
        assert_eq!(
            resolve_in(Path::new("plain"), &folders).unwrap(),
            second.0.join("plain")
        );
    }

    #[test]
    fn a_name_found_nowhere_lists_every_folder_searched() {
        let existing = TempDir::new("listed");
        let folders = [existing.0.clone(), PathBuf::from("/nonexistent/models")];
        let err = resolve_in(Path::new("nothing"), &folders).unwrap_err();
        assert_eq!(err.kind(), super::super::ErrorKind::NotFound);
        let message = err.to_string();
        assert!(
            message.starts_with("model file 'nothing' does not exist"),
            "{message}"
        );
        assert!(message.contains("nothing or nothing.onnx"), "{message}");
        assert!(
            message.contains(&format!("  - {}\n", existing.0.display())),
            "{message}"
        );
        assert!(
            message.contains("  - /nonexistent/models (no such folder)"),
            "{message}"
        );
        assert!(message.contains(MODEL_PATH_ENV_VAR), "{message}");
    }

    #[test]
    fn the_search_path_is_the_variable_then_the_installation_then_the_system() {
        let folders = folders_from(
            Some("/a/models::/b/models:/usr/share/gstautoencoder/models".into()),
            Some(Path::new("/opt/ae/lib/x86_64-linux-gnu/gstreamer-1.0")),
        );
        assert_eq!(
            folders,
            [
                "/a/models",
                "/b/models",
                "/usr/share/gstautoencoder/models",
                "/opt/ae/share/gstautoencoder/models",
                "/usr/local/share/gstautoencoder/models",
            ]
            .map(PathBuf::from)
        );
        // No variable, a plugin in a build folder: the system folders only.
        assert_eq!(
            folders_from(None, Some(Path::new("/work/target/release"))),
            [
                "/usr/local/share/gstautoencoder/models",
                "/usr/share/gstautoencoder/models"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn the_installation_prefix_comes_from_the_plugin_folder() {
        for (plugin_dir, prefix) in [
            ("/usr/lib/x86_64-linux-gnu/gstreamer-1.0", Some("/usr")),
            ("/usr/lib/gstreamer-1.0", Some("/usr")),
            ("/opt/x/lib64/gstreamer-1.0", Some("/opt/x")),
            (
                "/home/u/.local/share/gstreamer-1.0/plugins",
                Some("/home/u/.local"),
            ),
            ("/work/target/release", None),
            ("/work/target/debug/deps", None),
            ("/lib/x/y/z/gstreamer-1.0", None),
        ] {
            assert_eq!(
                installation_prefix(Path::new(plugin_dir)).as_deref(),
                prefix.map(Path::new),
                "{plugin_dir}"
            );
        }
    }
}
