// SPDX-License-Identifier: MIT OR Apache-2.0
//! Asks the NVIDIA driver (libcuda, loaded at run time) which GPU a `device-id` names, before
//! ONNX Runtime is asked to use it: the user gets "no driver" or "no such device" in plain
//! words instead of a provider error, and the engine cache is keyed by the GPU it was built for.

use super::error::Error;
use std::ffi::{CStr, c_char, c_int};

/// The driver library, as the NVIDIA driver installs it.
pub const DRIVER_LIBRARY: &str = "libcuda.so.1";

/// One GPU as the driver describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInfo {
    /// The index the driver (and `device-id`) gives the GPU.
    pub device_id: i32,
    /// The driver's name for it, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// Compute capability, e.g. (9, 0) for an H100.
    pub compute_capability: (i32, i32),
}

impl GpuInfo {
    /// A short identity for cache keys and reports, e.g. `NVIDIA-H100-80GB-HBM3-sm90`.
    pub fn slug(&self) -> String {
        let name: String = self
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let (major, minor) = self.compute_capability;
        format!("{name}-sm{major}{minor}")
    }
}

/// Describes GPU `device_id` through the driver library `library` (normally
/// [`DRIVER_LIBRARY`]).
pub fn probe(library: &str, device_id: i32) -> Result<GpuInfo, Error> {
    let driver = Driver::open(library)?;
    driver.check(driver.init(0), "cuInit")?;
    let mut count: c_int = 0;
    driver.check(driver.device_count(&mut count), "cuDeviceGetCount")?;
    check_device_id(device_id, count)?;
    let mut device: c_int = 0;
    driver.check(driver.device_get(&mut device, device_id), "cuDeviceGet")?;
    let mut name = [0 as c_char; 256];
    driver.check(
        driver.device_name(name.as_mut_ptr(), name.len() as c_int, device),
        "cuDeviceGetName",
    )?;
    let (mut major, mut minor) = (0, 0);
    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR.
    driver.check(
        driver.attribute(&mut major, 75, device),
        "cuDeviceGetAttribute",
    )?;
    driver.check(
        driver.attribute(&mut minor, 76, device),
        "cuDeviceGetAttribute",
    )?;
    // SAFETY: the driver wrote a NUL-terminated name into the buffer.
    let name = unsafe { CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    Ok(GpuInfo {
        device_id,
        name,
        compute_capability: (major, minor),
    })
}

/// Checks `device_id` against the number of GPUs the driver sees.
pub fn check_device_id(device_id: i32, count: i32) -> Result<(), Error> {
    if count == 0 {
        return Err(Error::runtime(
            "the NVIDIA driver is installed but sees no GPU",
        ));
    }
    if !(0..count).contains(&device_id) {
        return Err(Error::settings(format!(
            "device-id {device_id} names no GPU: this machine has {count} (device-id 0 to {})",
            count - 1
        )));
    }
    Ok(())
}

type CuResult = c_int;
type CuInit = unsafe extern "C" fn(u32) -> CuResult;
type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> CuResult;
type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> CuResult;
type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> CuResult;
type CuDeviceGetAttribute = unsafe extern "C" fn(*mut c_int, c_int, c_int) -> CuResult;
type CuGetErrorString = unsafe extern "C" fn(CuResult, *mut *const c_char) -> CuResult;

/// The few driver entry points the probe needs, resolved by name.
struct Driver {
    init: CuInit,
    device_count: CuDeviceGetCount,
    device_get: CuDeviceGet,
    device_name: CuDeviceGetName,
    attribute: CuDeviceGetAttribute,
    error_string: CuGetErrorString,
    /// Keeps the library loaded while the function pointers above are in use (dropped last).
    _library: libloading::Library,
}

impl Driver {
    fn open(library: &str) -> Result<Self, Error> {
        // SAFETY: loading the NVIDIA driver runs only its own initialisers.
        let lib = unsafe { libloading::Library::new(library) }.map_err(|e| {
            // libloading says "dlopen failed"; the loader's own words are its source.
            let why = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
            Error::runtime(format!(
                "the NVIDIA driver ({library}) is not installed, so no GPU can be used: {why}"
            ))
        })?;
        /// The function `name`, of the C signature `T` (CUDA driver API, cuda.h).
        fn symbol<T: Copy>(
            lib: &libloading::Library,
            library: &str,
            name: &str,
        ) -> Result<T, Error> {
            // SAFETY: each name below is the driver API function whose C signature its field's
            // type spells out; the pointer is used only while `_library` keeps it loaded.
            unsafe { lib.get::<T>(name) }.map(|f| *f).map_err(|_| {
                Error::runtime(format!(
                    "the NVIDIA driver ({library}) has no {name}: it is too old"
                ))
            })
        }
        Ok(Self {
            init: symbol(&lib, library, "cuInit")?,
            device_count: symbol(&lib, library, "cuDeviceGetCount")?,
            device_get: symbol(&lib, library, "cuDeviceGet")?,
            device_name: symbol(&lib, library, "cuDeviceGetName")?,
            attribute: symbol(&lib, library, "cuDeviceGetAttribute")?,
            error_string: symbol(&lib, library, "cuGetErrorString")?,
            _library: lib,
        })
    }

    fn init(&self, flags: u32) -> CuResult {
        // SAFETY: cuInit takes flags by value.
        unsafe { (self.init)(flags) }
    }

    fn device_count(&self, count: &mut c_int) -> CuResult {
        // SAFETY: writes one int.
        unsafe { (self.device_count)(count) }
    }

    fn device_get(&self, device: &mut c_int, ordinal: c_int) -> CuResult {
        // SAFETY: writes one device handle (an int).
        unsafe { (self.device_get)(device, ordinal) }
    }

    fn device_name(&self, name: *mut c_char, len: c_int, device: c_int) -> CuResult {
        // SAFETY: the caller passes a buffer of `len` bytes.
        unsafe { (self.device_name)(name, len, device) }
    }

    fn attribute(&self, value: &mut c_int, attribute: c_int, device: c_int) -> CuResult {
        // SAFETY: writes one int.
        unsafe { (self.attribute)(value, attribute, device) }
    }

    /// Ok for CUDA_SUCCESS, else the driver's own words for the error.
    fn check(&self, result: CuResult, call: &str) -> Result<(), Error> {
        if result == 0 {
            return Ok(());
        }
        let mut text: *const c_char = std::ptr::null();
        // SAFETY: writes a pointer to a static string (or leaves it null).
        unsafe { (self.error_string)(result, &mut text) };
        let text = if text.is_null() {
            "unknown error".into()
        } else {
            // SAFETY: a static NUL-terminated string owned by the driver.
            unsafe { CStr::from_ptr(text) }.to_string_lossy()
        };
        Err(Error::runtime(format!(
            "the NVIDIA driver could not use the GPU ({call}: error {result}, {text})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_driver_is_named() {
        let err = probe("libcuda-not-here.so.1", 0).unwrap_err();
        assert!(
            err.message().starts_with(
                "the NVIDIA driver (libcuda-not-here.so.1) is not installed, so no GPU can be used: "
            ),
            "{err}"
        );
        assert!(
            err.message().contains("cannot open shared object file"),
            "{err}"
        );
    }

    #[test]
    fn a_library_without_the_driver_api_is_refused() {
        // libc loads but has no cuInit.
        let err = probe("libc.so.6", 0).unwrap_err();
        assert_eq!(
            err,
            "the NVIDIA driver (libc.so.6) has no cuInit: it is too old"
        );
    }

    #[test]
    fn device_ids_are_checked_against_the_gpus_present() {
        assert!(check_device_id(0, 1).is_ok());
        assert!(check_device_id(3, 4).is_ok());
        assert_eq!(
            check_device_id(1, 1).unwrap_err(),
            "device-id 1 names no GPU: this machine has 1 (device-id 0 to 0)"
        );
        assert_eq!(
            check_device_id(0, 0).unwrap_err(),
            "the NVIDIA driver is installed but sees no GPU"
        );
    }

    #[test]
    fn the_slug_names_the_gpu_and_its_architecture() {
        let gpu = GpuInfo {
            device_id: 0,
            name: "NVIDIA H100 80GB HBM3".into(),
            compute_capability: (9, 0),
        };
        assert_eq!(gpu.slug(), "NVIDIA-H100-80GB-HBM3-sm90");
    }
}
