// SPDX-License-Identifier: MIT OR Apache-2.0
//! The GPU build of ONNX Runtime on a machine without an NVIDIA driver: its CUDA and TensorRT
//! providers are in the library, so the element gets as far as asking the driver, and must say
//! plainly that there is none (explicit provider), or fall back to the CPU saying why (`auto`).
//!
//! Opt-in (the GPU library is a 256 MB wheel, not part of CI):
//!
//!     pip download --no-deps onnxruntime-gpu==1.31.1 -d /tmp/ortgpu
//!     unzip -j /tmp/ortgpu/onnxruntime_gpu-*.whl 'onnxruntime/capi/libonnxruntime*' -d /tmp/ortgpu/lib
//!     AUTOENCODER_GPU_LIBRARY=/tmp/ortgpu/lib/libonnxruntime.so.1.31.1 \
//!         cargo test --test gpu_library -- --ignored

mod common;

use common::*;
use gst::prelude::*;

#[test]
#[ignore = "opt-in: needs AUTOENCODER_GPU_LIBRARY (see the file's header)"]
fn without_a_driver_the_gpu_library_says_so_and_auto_runs_on_the_cpu() {
    let library = std::env::var_os("AUTOENCODER_GPU_LIBRARY")
        .expect("AUTOENCODER_GPU_LIBRARY names a GPU build of libonnxruntime");
    assert!(
        !std::path::Path::new("/proc/driver/nvidia").exists(),
        "this machine has an NVIDIA driver: scripts/gpu-check.sh is its test"
    );
    // SAFETY: set before any thread of this test binary reads the environment.
    unsafe { std::env::set_var("ORT_DYLIB_PATH", library) };
    init();
    let model = fixture_str("channel_swap.onnx");
    let pipeline = |provider: &str| -> gst::Pipeline {
        gst::parse::launch(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=32,height=32 ! \
             onnxstyletransfer name=e model-file={model} execution-provider={provider} ! fakesink"
        ))
        .unwrap()
        .downcast()
        .unwrap()
    };
    let no_driver = "the NVIDIA driver (libcuda.so.1) is not installed, so no GPU can be used";
    for provider in ["cuda", "tensorrt"] {
        let err = start_error(&pipeline(provider));
        assert!(
            err.contains(&format!(
                "the {provider} execution provider cannot run: {no_driver}"
            )),
            "{err}"
        );
    }
    let auto = pipeline("auto");
    auto.set_state(gst::State::Paused).unwrap();
    let message = auto
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Element],
        )
        .expect("the provider message");
    let s = message.structure().unwrap();
    assert_eq!(s.get::<&str>("active").unwrap(), "cpu");
    assert!(s.get::<bool>("fallback").unwrap());
    let skipped = s.get::<&str>("skipped").unwrap();
    assert!(
        skipped.contains(&format!(
            "tensorrt: the tensorrt execution provider cannot run: {no_driver}"
        )) && skipped.contains(&format!(
            "cuda: the cuda execution provider cannot run: {no_driver}"
        )),
        "{skipped}"
    );
    assert!(
        s.get::<&str>("runtime-library")
            .unwrap()
            .contains("libonnxruntime.so.1.31.1")
    );
    auto.set_state(gst::State::Null).unwrap();
}
