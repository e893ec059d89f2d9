// SPDX-License-Identifier: MIT OR Apache-2.0
//! The process-wide ONNX Runtime: finding and loading `libonnxruntime`, and the one
//! `ort::Environment` every session of every element shares.
//!
//! ort allows a single Environment per process (a second `build()` fails even after the first
//! is dropped), so it lives in a static for the life of the process. Nothing here runs at plugin
//! load: the library is loaded the first time an element starts.

use super::error::Error;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ort::environment::Environment;
pub use ort::logging::LogLevel;

/// The environment variable that names the ONNX Runtime library explicitly.
pub const DYLIB_ENV_VAR: &str = "ORT_DYLIB_PATH";

/// Sonames tried on the system library search path, most specific first.
const SYSTEM_SONAMES: [&str; 2] = ["libonnxruntime.so.1", "libonnxruntime.so"];

/// The plugin's private library folder, beside its plugin folder: a distribution package
/// installs the plugin in `<libdir>/gstreamer-1.0` and the ONNX Runtime it ships in
/// `<libdir>/gstautoencoder`, out of the system library path and of GStreamer's plugin folder.
pub const PRIVATE_LIBRARY_DIR: &str = "gstautoencoder";

static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);
static LOADED_FROM: OnceLock<String> = OnceLock::new();
/// Whether the CPU sessions share one memory arena (see [`share_cpu_arena`]), else why not.
static SHARED_ARENA: OnceLock<Result<(), String>> = OnceLock::new();

/// The loaded ONNX Runtime's version, e.g. `1.32.0` (from its build information; `unknown`
/// where that does not say).
pub fn version() -> String {
    version_from_build_info(ort::info())
}

fn version_from_build_info(info: &str) -> String {
    info.split([',', ' '])
        .find_map(|part| part.trim().strip_prefix("git-branch=rel-"))
        .unwrap_or("unknown")
        .to_owned()
}

/// Where the ONNX Runtime library was loaded from, once it is.
pub fn library_location() -> Option<&'static str> {
    LOADED_FROM.get().map(String::as_str)
}

/// Why the CPU sessions could not share one memory arena, if they could not: each then has
/// its own, as ONNX Runtime's default is, and memory may grow over start/stop cycles.
pub fn shared_arena_error() -> Option<&'static str> {
    SHARED_ARENA.get()?.as_ref().err().map(String::as_str)
}

/// Where ONNX Runtime's own log lines go: (severity, category, code location, message).
pub type LogSink = Arc<dyn Fn(LogLevel, &str, &str, &str) + Send + Sync>;

static LOG_SINK: OnceLock<(LogSink, LogLevel)> = OnceLock::new();

/// Sends ONNX Runtime's own log lines of `level` and above to `sink` instead of stderr (the
/// GStreamer elements send them to the `onnxruntime` debug category). Takes effect for the
/// environment created next; the first sink set stays. Returns whether this one was taken.
pub fn set_log_sink(sink: LogSink, level: LogLevel) -> bool {
    LOG_SINK.set((sink, level)).is_ok()
}

/// The least severe ONNX Runtime log line sessions produce: the sink's level, else warnings.
/// (Sessions would otherwise format verbose lines at every run for a sink that drops them.)
pub fn log_level() -> LogLevel {
    LOG_SINK
        .get()
        .map_or(LogLevel::Warning, |(_, level)| *level)
}

/// Returns the shared environment, loading the ONNX Runtime library on first use.
///
/// A failed load is not remembered: a later call (e.g. after the user installed the library)
/// tries again.
pub fn environment() -> Result<Environment, Error> {
    let mut env = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = env.as_ref() {
        return Ok(env.clone());
    }
    let (mut builder, location) = load_library()?;
    let _ = LOADED_FROM.set(location);
    if let Some((sink, _)) = LOG_SINK.get() {
        let sink = Arc::clone(sink);
        builder = builder.with_logger(Arc::new(move |level, category, _id, location, message| {
            sink(level, category, location, message)
        }));
    }
    let built = builder.with_name("gstautoencoder").build().map_err(|e| {
        Error::runtime(format!(
            "could not create the ONNX Runtime environment: {e}"
        ))
    })?;
    let _ = SHARED_ARENA.set(share_cpu_arena(&built));
    *env = Some(built.clone());
    Ok(built)
}

/// Registers one CPU memory arena in the environment for every CPU session of the process to
/// allocate from (sessions opt in with `with_env_allocators`, see [`super::providers`]).
///
/// Each session would otherwise own an arena, grown at its first run to hold the activations
/// (tens of MiB at 320x180) and freed when the session is dropped at stop. When glibc frees
/// such a block it raises its mmap threshold to the block's size and its trim threshold to
/// twice that: the next session's arena then comes from the malloc heaps, which give memory
/// back only from their top and fragment, so PLAYING <-> NULL cycles grew RSS by 5-50 MiB
/// before it levelled off (tests/state_cycles.rs; `MALLOC_MMAP_THRESHOLD_=131072`, which keeps
/// the threshold fixed, made the growth go away too). One arena for the process is allocated
/// once and reused by every start: stopping no longer frees it, and it keeps its peak size
/// until the process exits (about what the heaps kept before).
fn share_cpu_arena(env: &Environment) -> Result<(), String> {
    use ort::AsPointer;
    use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};

    // The memory info of the CPU provider's own arena, which the shared one replaces.
    let info = MemoryInfo::new(
        AllocationDevice::CPU,
        0,
        AllocatorType::Arena,
        MemoryType::Default,
    )
    .map_err(|e| e.to_string())?;
    // SAFETY: the environment and the memory info are live; a null configuration is ONNX
    // Runtime's default arena.
    let status = unsafe {
        (ort::api().CreateAndRegisterAllocator)(env.ptr().cast_mut(), info.ptr(), std::ptr::null())
    };
    super::session::check_status(status)
}

/// One place looked at for the library and what was found there.
struct Attempt {
    place: String,
    outcome: String,
}

/// Loads the library from the first place that works, in the documented order:
/// `ORT_DYLIB_PATH`; a `libonnxruntime*.so*` next to the plugin's own file, then in the
/// private library folder beside the plugin's folder ([`PRIVATE_LIBRARY_DIR`]); the system
/// library search path.
fn load_library() -> Result<(ort::environment::EnvironmentBuilder, String), Error> {
    let mut attempts = Vec::new();

    match std::env::var_os(DYLIB_ENV_VAR) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                // ort would resolve it against the executable's folder (e.g. /usr/bin), which
                // nobody means; refuse it with a clear word instead.
                return Err(Error::runtime(format!(
                    "{DYLIB_ENV_VAR}={} is not an absolute path; give the full path to libonnxruntime.so",
                    path.display()
                )));
            }
            // Said plainly: the loader itself would only say "dlopen failed".
            match std::fs::metadata(&path) {
                Err(e) => {
                    return Err(Error::runtime(format!(
                        "{DYLIB_ENV_VAR}={} cannot be used: {e}",
                        path.display()
                    )));
                }
                Ok(meta) if meta.is_dir() => {
                    return Err(Error::runtime(format!(
                        "{DYLIB_ENV_VAR}={} is a directory; give the library file itself \
                         (libonnxruntime.so.<version>)",
                        path.display()
                    )));
                }
                Ok(_) => {}
            }
            match ort::init_from(&path) {
                Ok(builder) => return Ok((builder, path.display().to_string())),
                // An explicit choice that fails is an error, not a reason to look elsewhere.
                Err(e) => {
                    // ort says "dlopen failed"; the loader's own words say why.
                    // SAFETY: loading the file the user named as the ONNX Runtime library, as
                    // ort just tried to; only to read the loader's error.
                    let why = match unsafe { libloading::Library::new(&path) } {
                        Err(l) => std::error::Error::source(&l)
                            .map_or(String::new(), |s| format!(" ({s})")),
                        Ok(_) => String::new(),
                    };
                    return Err(Error::runtime(format!(
                        "could not load ONNX Runtime from {DYLIB_ENV_VAR}={}: {e}{why}",
                        path.display()
                    )));
                }
            }
        }
        _ => attempts.push(Attempt {
            place: format!("${DYLIB_ENV_VAR}"),
            outcome: "not set".into(),
        }),
    }

    match plugin_directory() {
        Some(dir) => {
            for dir in plugin_library_folders(&dir) {
                let candidates = libraries_in(&dir);
                if candidates.is_empty() {
                    attempts.push(Attempt {
                        place: format!("{}/libonnxruntime*.so*", dir.display()),
                        outcome: "none there".into(),
                    });
                }
                for candidate in candidates {
                    match ort::init_from(&candidate) {
                        Ok(builder) => return Ok((builder, candidate.display().to_string())),
                        Err(e) => attempts.push(Attempt {
                            place: candidate.display().to_string(),
                            outcome: e.to_string(),
                        }),
                    }
                }
            }
        }
        None => attempts.push(Attempt {
            place: "the plugin's folder".into(),
            outcome: "could not be determined".into(),
        }),
    }

    for soname in SYSTEM_SONAMES {
        match ort::init_from(soname) {
            Ok(builder) => return Ok((builder, format!("{soname} (system library path)"))),
            Err(e) => attempts.push(Attempt {
                place: format!("{soname} on the system library path"),
                outcome: e.to_string(),
            }),
        }
    }

    let looked = attempts
        .iter()
        .map(|a| format!("  - {}: {}", a.place, a.outcome))
        .collect::<Vec<_>>()
        .join("\n");
    Err(Error::runtime(format!(
        "the ONNX Runtime library (libonnxruntime.so) was not found. Looked at:\n{looked}\n\
         Install it with scripts/setup.sh (CPU) or scripts/setup.sh --gpu (CUDA/TensorRT), \
         copy it next to the plugin, or set {DYLIB_ENV_VAR} to its absolute path."
    )))
}

/// The folders searched for the library because of where the plugin is: its own folder, then
/// the private library folder beside it (`<libdir>/gstreamer-1.0` -> `<libdir>/gstautoencoder`).
fn plugin_library_folders(plugin_dir: &Path) -> Vec<PathBuf> {
    let mut folders = vec![plugin_dir.to_path_buf()];
    if let Some(parent) = plugin_dir.parent() {
        folders.push(parent.join(PRIVATE_LIBRARY_DIR));
    }
    folders
}

/// The `libonnxruntime*.so*` files in `dir`, newest-looking name first; provider libraries
/// (`libonnxruntime_providers_*`) are not the runtime and are skipped.
fn libraries_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    found.sort();
    found.reverse();
    found
}

/// The folder of the shared object this code was loaded from (the plugin's .so, or the
/// executable when the plugin is linked in statically).
pub(crate) fn plugin_directory() -> Option<PathBuf> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let address = plugin_directory as *const libc::c_void;
    // SAFETY: dladdr only reads the loader's tables; `info` is written on success.
    let found = unsafe { libc::dladdr(address, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: dladdr returned non-zero, so `info` is initialised.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the loader.
    let file = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let file = PathBuf::from(std::ffi::OsStr::new(
        std::str::from_utf8(file.to_bytes()).ok()?,
    ));
    let file = std::fs::canonicalize(&file).unwrap_or(file);
    file.parent().map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_runtime_libraries_but_not_provider_libraries() {
        let dir = std::env::temp_dir().join(format!("ae-runtime-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "libonnxruntime.so.1.32.0",
            "libonnxruntime_providers_cuda.so",
            "libonnxruntime.so",
            "other.so",
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let found: Vec<String> = libraries_in(&dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, ["libonnxruntime.so.1.32.0", "libonnxruntime.so"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_private_library_folder_is_beside_the_plugin_folder() {
        assert_eq!(
            plugin_library_folders(Path::new("/usr/lib/x86_64-linux-gnu/gstreamer-1.0")),
            [
                "/usr/lib/x86_64-linux-gnu/gstreamer-1.0",
                "/usr/lib/x86_64-linux-gnu/gstautoencoder"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(plugin_library_folders(Path::new("/")), [PathBuf::from("/")]);
    }

    #[test]
    fn the_version_comes_from_the_build_information() {
        let info = "ORT Build Info: git-branch=rel-1.31.1, git-commit-id=abc, build type=Release";
        assert_eq!(version_from_build_info(info), "1.31.1");
        assert_eq!(
            version_from_build_info("ORT Build Info: git-branch=main"),
            "unknown"
        );
    }

    #[test]
    fn plugin_directory_is_the_folder_of_this_binary() {
        let dir = plugin_directory().expect("dladdr finds this binary");
        let exe = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(dir, exe.parent().unwrap());
    }
}
