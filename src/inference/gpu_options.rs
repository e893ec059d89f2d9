// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the CUDA and TensorRT execution providers are told: the option strings ONNX Runtime
//! takes (one pure function each, so the mapping is tested without a GPU), TensorRT's shape
//! profile for the negotiated frame size, and where its engines are cached.
//!
//! Engine cache layout: `<trt-engine-cache>/<model>-<sha256 of the model, 16 hex>/
//! <GPU>-ort<version>-<precision>-<input size>/` holds ONNX Runtime's engine and profile files
//! for that model on that GPU at that input size, so a change of model, GPU, library,
//! precision or frame size never picks up (or overwrites) another engine; the timing cache is
//! shared by all models (`<trt-engine-cache>/timing`), as TensorRT intends.

use super::error::Error;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// How cuDNN picks convolution algorithms (ONNX Runtime's `cudnn_conv_algo_search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvAlgoSearch {
    /// Times every algorithm on the first run: the fastest steady state, a slower first frame.
    #[default]
    Exhaustive,
    /// cuDNN's heuristics: a fast first frame.
    Heuristic,
    /// cuDNN's default, implicit GEMM: the least memory.
    ImplicitGemm,
}

impl ConvAlgoSearch {
    fn option(self) -> &'static str {
        match self {
            ConvAlgoSearch::Exhaustive => "EXHAUSTIVE",
            ConvAlgoSearch::Heuristic => "HEURISTIC",
            ConvAlgoSearch::ImplicitGemm => "DEFAULT",
        }
    }
}

/// The GPU settings an element passes on.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuSettings {
    /// The CUDA device ordinal the providers run on (0: the first GPU).
    pub device_id: i32,
    /// TensorRT builds fp16 kernels where the GPU has them.
    pub trt_fp16: bool,
    /// Root of the TensorRT engine cache (None: engines are rebuilt at every start).
    pub engine_cache: Option<PathBuf>,
    /// How the CUDA provider's cuDNN picks convolution algorithms.
    pub conv_algo_search: ConvAlgoSearch,
    /// The CUDA memory arena's limit in MiB (0: no limit).
    pub memory_limit_mib: u64,
}

impl Default for GpuSettings {
    fn default() -> Self {
        Self {
            device_id: 0,
            trt_fp16: true,
            engine_cache: None,
            conv_algo_search: ConvAlgoSearch::default(),
            memory_limit_mib: 0,
        }
    }
}

/// Option strings, as ONNX Runtime's provider option keys and values.
pub type Options = Vec<(&'static str, String)>;

/// The CUDA provider's options.
pub fn cuda_options(settings: &GpuSettings) -> Options {
    let mut options = vec![
        ("device_id", settings.device_id.to_string()),
        (
            "cudnn_conv_algo_search",
            settings.conv_algo_search.option().into(),
        ),
        // Grow the arena by what is asked, not to the next power of two: a 1080p frame's
        // tensors would otherwise reserve up to twice their size.
        ("arena_extend_strategy", "kSameAsRequested".into()),
    ];
    if settings.memory_limit_mib > 0 {
        let bytes = settings.memory_limit_mib.saturating_mul(1024 * 1024);
        options.push(("gpu_mem_limit", bytes.to_string()));
    }
    options
}

/// A TensorRT optimisation profile for the model's image input: the engine is built for
/// exactly the negotiated size (min = opt = max), so it is never rebuilt mid-stream unless the
/// caps change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeProfile {
    /// The name of the model's image input.
    pub input: String,
    /// Width of the input tensor, the `W` of `[1,3,H,W]`.
    pub width: usize,
    /// Height of the input tensor, the `H` of `[1,3,H,W]`.
    pub height: usize,
}

impl ShapeProfile {
    fn shape(&self) -> String {
        format!("{}:1x3x{}x{}", self.input, self.height, self.width)
    }
}

/// The TensorRT provider's options; `engine_dir` from [`EngineCache::dir`].
pub fn tensorrt_options(
    settings: &GpuSettings,
    engine_dir: Option<&Path>,
    timing_dir: Option<&Path>,
    profile: Option<&ShapeProfile>,
) -> Options {
    let flag = |on: bool| if on { "1" } else { "0" }.to_string();
    let mut options = vec![
        ("device_id", settings.device_id.to_string()),
        ("trt_fp16_enable", flag(settings.trt_fp16)),
    ];
    if let Some(dir) = engine_dir {
        options.push(("trt_engine_cache_enable", flag(true)));
        options.push(("trt_engine_cache_path", dir.display().to_string()));
    }
    if let Some(dir) = timing_dir {
        options.push(("trt_timing_cache_enable", flag(true)));
        options.push(("trt_timing_cache_path", dir.display().to_string()));
    }
    if let Some(p) = profile {
        for key in [
            "trt_profile_min_shapes",
            "trt_profile_opt_shapes",
            "trt_profile_max_shapes",
        ] {
            options.push((key, p.shape()));
        }
    }
    options
}

/// Where one model's engines live for one GPU, library version and precision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineCache {
    /// The cache's root (`trt-engine-cache`).
    pub root: PathBuf,
    /// `<model>-<hash>/<GPU>-ort<version>-<precision>-<size>`, relative to the root.
    pub key: PathBuf,
}

impl EngineCache {
    /// The cache for `model_file` (its bytes are hashed) on the GPU `gpu_slug`, for the input
    /// size of `profile` (None: sized by the first frame, `dynamic`).
    pub fn for_model(
        root: &Path,
        model_file: &Path,
        gpu_slug: &str,
        runtime_version: &str,
        fp16: bool,
        profile: Option<&ShapeProfile>,
    ) -> Result<Self, Error> {
        let bytes = std::fs::read(model_file)
            .map_err(|e| Error::settings(format!("cannot read '{}': {e}", model_file.display())))?;
        let stem = model_file
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy());
        Ok(Self {
            root: root.to_path_buf(),
            key: cache_key(&stem, &bytes, gpu_slug, runtime_version, fp16, profile),
        })
    }

    /// This model's engine folder: `root/key`.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.key)
    }

    /// The timing cache, shared by every model.
    pub fn timing_dir(&self) -> PathBuf {
        self.root.join("timing")
    }

    /// Whether an engine built earlier is there (the start will skip the build).
    pub fn has_engine(&self) -> bool {
        std::fs::read_dir(self.dir()).is_ok_and(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.path().extension().is_some_and(|x| x == "engine"))
        })
    }

    /// Creates the folders, with the error naming the one that could not be made.
    pub fn create(&self) -> Result<(), Error> {
        for dir in [self.dir(), self.timing_dir()] {
            std::fs::create_dir_all(&dir).map_err(|e| {
                Error::settings(format!(
                    "cannot create the engine cache folder '{}' (property trt-engine-cache): {e}",
                    dir.display()
                ))
            })?;
        }
        Ok(())
    }
}

/// `<stem>-<first 16 hex of sha256(model)>/<gpu>-ort<version>-<fp16|fp32>-<WxH|dynamic>`.
pub fn cache_key(
    stem: &str,
    model: &[u8],
    gpu_slug: &str,
    runtime_version: &str,
    fp16: bool,
    profile: Option<&ShapeProfile>,
) -> PathBuf {
    let digest = Sha256::digest(model);
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let precision = if fp16 { "fp16" } else { "fp32" };
    let size = profile.map_or("dynamic".into(), |p| format!("{}x{}", p.width, p.height));
    PathBuf::from(format!("{stem}-{hash}")).join(format!(
        "{gpu_slug}-ort{runtime_version}-{precision}-{size}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(options: &Options) -> Vec<&str> {
        options.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn cuda_options_follow_the_settings() {
        let settings = GpuSettings {
            device_id: 1,
            conv_algo_search: ConvAlgoSearch::Heuristic,
            memory_limit_mib: 2048,
            ..Default::default()
        };
        assert_eq!(
            cuda_options(&settings),
            vec![
                ("device_id", "1".to_string()),
                ("cudnn_conv_algo_search", "HEURISTIC".into()),
                ("arena_extend_strategy", "kSameAsRequested".into()),
                ("gpu_mem_limit", (2048u64 << 20).to_string()),
            ]
        );
        let defaults = cuda_options(&GpuSettings::default());
        assert_eq!(defaults[1].1, "EXHAUSTIVE");
        assert!(
            !keys(&defaults).contains(&"gpu_mem_limit"),
            "no limit by default"
        );
    }

    #[test]
    fn tensorrt_options_carry_precision_caches_and_the_profile() {
        let profile = ShapeProfile {
            input: "input".into(),
            width: 640,
            height: 360,
        };
        let options = tensorrt_options(
            &GpuSettings::default(),
            Some(Path::new("/c/m/e")),
            Some(Path::new("/c/timing")),
            Some(&profile),
        );
        assert_eq!(
            options,
            vec![
                ("device_id", "0".to_string()),
                ("trt_fp16_enable", "1".into()),
                ("trt_engine_cache_enable", "1".into()),
                ("trt_engine_cache_path", "/c/m/e".into()),
                ("trt_timing_cache_enable", "1".into()),
                ("trt_timing_cache_path", "/c/timing".into()),
                ("trt_profile_min_shapes", "input:1x3x360x640".into()),
                ("trt_profile_opt_shapes", "input:1x3x360x640".into()),
                ("trt_profile_max_shapes", "input:1x3x360x640".into()),
            ]
        );
        let fp32 = GpuSettings {
            trt_fp16: false,
            ..Default::default()
        };
        let bare = tensorrt_options(&fp32, None, None, None);
        assert_eq!(
            bare,
            vec![
                ("device_id", "0".to_string()),
                ("trt_fp16_enable", "0".into())
            ]
        );
    }

    #[test]
    fn the_cache_key_changes_with_model_gpu_library_and_precision() {
        let hd = ShapeProfile {
            input: "input".into(),
            width: 1280,
            height: 720,
        };
        let key =
            |model: &[u8], gpu, version, fp16| cache_key("m", model, gpu, version, fp16, Some(&hd));
        let base = key(b"model A", "H100-sm90", "1.31.1", true);
        // sha256("model A") starts with these 8 bytes.
        let expected_hash: String = Sha256::digest(b"model A")[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            base,
            PathBuf::from(format!("m-{expected_hash}")).join("H100-sm90-ort1.31.1-fp16-1280x720")
        );
        let dynamic = cache_key("m", b"model A", "H100-sm90", "1.31.1", true, None);
        assert!(
            dynamic.ends_with("H100-sm90-ort1.31.1-fp16-dynamic"),
            "{dynamic:?}"
        );
        for other in [
            key(b"model B", "H100-sm90", "1.31.1", true),
            key(b"model A", "L4-sm89", "1.31.1", true),
            key(b"model A", "H100-sm90", "1.32.0", true),
            key(b"model A", "H100-sm90", "1.31.1", false),
        ] {
            assert_ne!(other, base);
        }
        assert_eq!(key(b"model A", "H100-sm90", "1.31.1", true), base, "stable");
    }

    #[test]
    fn an_engine_in_the_folder_is_found() {
        let root = std::env::temp_dir().join(format!("ae-engine-cache-{}", std::process::id()));
        let model = root.join("style.onnx");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(&model, b"bytes").unwrap();
        let cache =
            EngineCache::for_model(&root, &model, "GPU-sm90", "1.31.1", true, None).unwrap();
        let dir = cache.dir();
        let model_folder = dir.strip_prefix(&root).unwrap().iter().next().unwrap();
        assert!(
            model_folder.to_string_lossy().starts_with("style-"),
            "{dir:?}"
        );
        cache.create().unwrap();
        assert!(!cache.has_engine());
        std::fs::write(
            cache.dir().join("TensorrtExecutionProvider_x_sm90.engine"),
            b"",
        )
        .unwrap();
        assert!(cache.has_engine());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
