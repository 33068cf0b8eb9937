//! Choosing the device and the compute precision.
//!
//! CUDA is used when mllmu was built with the `cuda` feature and a GPU is present; the
//! default precision is bfloat16 on a GPU and float32 on the CPU.

use crate::{Error, Result};
use candle_core::{DType, Device};

/// Runs `f` on a thread of rayon's pool when `device` is the CPU (directly when already on
/// one, and for a GPU, whose work stays on the calling thread).
///
/// A parallel loop started from a thread outside the pool hands its work to the pool and
/// puts the caller to sleep until it is done: a wake-up on each side for every kernel, and
/// a forward pass has hundreds. Started from a pool thread, the caller works on its share
/// itself and the others steal the rest. Forward, backward, optimizer and generation run
/// through this (on two cores: 3–5 % faster, same results).
///
/// ```
/// let cpu = candle_core::Device::Cpu;
/// let on_pool = mllmu::model::device::on_pool(&cpu, || rayon::current_thread_index().is_some());
/// assert!(on_pool);
/// ```
pub fn on_pool<R: Send>(device: &Device, f: impl FnOnce() -> R + Send) -> R {
    if !device.is_cpu() || rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}

/// CUDA when built with the `cuda` feature and a GPU answers, else the CPU.
///
/// ```
/// let dev = mllmu::model::device::auto().unwrap();
/// # #[cfg(not(feature = "cuda"))]
/// assert!(dev.is_cpu());
/// ```
pub fn auto() -> Result<Device> {
    #[cfg(feature = "cuda")]
    {
        if candle_core::utils::cuda_is_available() {
            if let Ok(dev) = Device::new_cuda(0) {
                return Ok(dev);
            }
        }
    }
    Ok(Device::Cpu)
}

/// The CUDA device `ordinal`; an error when mllmu was built without CUDA.
///
/// ```
/// # #[cfg(not(feature = "cuda"))]
/// assert!(mllmu::model::device::cuda(0).unwrap_err().to_string().contains("--features cuda"));
/// ```
pub fn cuda(ordinal: usize) -> Result<Device> {
    #[cfg(feature = "cuda")]
    {
        Device::new_cuda(ordinal).map_err(|e| {
            Error::param(
                "device",
                format!("cuda:{ordinal}"),
                format!("cannot open the GPU: {e}"),
            )
        })
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err(Error::param(
            "device",
            format!("cuda:{ordinal}"),
            "CUDA requested but mllmu was built without it\nhint: rebuild with `--features cuda`",
        ))
    }
}

/// Parses `auto`, `cpu`, `cuda` or `cuda:N`.
///
/// ```
/// assert!(mllmu::model::device::parse("cpu").unwrap().is_cpu());
/// assert!(mllmu::model::device::parse("tpu").is_err());
/// ```
pub fn parse(name: &str) -> Result<Device> {
    match name {
        "auto" => auto(),
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu" => cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => cuda(n),
            _ => Err(Error::param(
                "device",
                other,
                "expected auto, cpu, cuda or cuda:N",
            )),
        },
    }
}

/// bfloat16 on a GPU, float32 on the CPU.
///
/// ```
/// use candle_core::{DType, Device};
/// assert_eq!(mllmu::model::device::default_dtype(&Device::Cpu), DType::F32);
/// ```
pub fn default_dtype(device: &Device) -> DType {
    if device.is_cpu() {
        DType::F32
    } else {
        DType::BF16
    }
}

/// Parses `f32`/`float32`, `f16`/`float16`, `bf16`/`bfloat16`.
///
/// ```
/// assert_eq!(mllmu::model::device::parse_dtype("bf16").unwrap(), candle_core::DType::BF16);
/// ```
pub fn parse_dtype(name: &str) -> Result<DType> {
    match name {
        "f32" | "float32" => Ok(DType::F32),
        "f16" | "float16" => Ok(DType::F16),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        other => Err(Error::param("dtype", other, "expected f32, f16 or bf16")),
    }
}

/// A short description such as `cpu` or `cuda:0`, for logs and manifests.
pub fn describe(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// Runs candle's own element-wise kernels on the calling thread (`CANDLE_NUM_THREADS=1`)
/// unless the variable is already set, and returns whether it set it. candle gives those
/// kernels a pool of as many threads as rayon's (which run the matrix products and mllmu's
/// fused kernels), and its threads spin after every kernel: next to rayon's, on a machine
/// with few or shared cores, that made a training step up to four times slower and the demo
/// a fifth slower, with the same results (benches/model/README.md). The CLI calls it first
/// thing; a program does the same, before any tensor work and before it starts threads
/// (it sets an environment variable, which candle reads once).
///
/// ```
/// mllmu::model::device::elementwise_on_caller();
/// assert!(std::env::var("CANDLE_NUM_THREADS").is_ok());
/// ```
pub fn elementwise_on_caller() -> bool {
    if std::env::var_os("CANDLE_NUM_THREADS").is_some() {
        return false;
    }
    std::env::set_var("CANDLE_NUM_THREADS", "1");
    true
}

/// Makes glibc's allocator keep freed memory for reuse instead of returning it to the OS
/// after every large tensor: buffers up to 32 MiB come from the heap (not fresh `mmap`s)
/// and the heap is trimmed only above 1 GiB free. candle allocates a new buffer for every
/// op's output, so this avoids a page fault per touched page of every activation (about
/// 20% of a CPU forward pass of a small model). Process-wide; call it once at start.
/// Returns whether the settings were applied (Linux with glibc only; elsewhere nothing
/// happens and `false` is returned).
///
/// ```
/// let applied = mllmu::model::device::tune_allocator();
/// # #[cfg(all(target_os = "linux", target_env = "gnu"))]
/// assert!(applied);
/// ```
pub fn tune_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(
                param: std::os::raw::c_int,
                value: std::os::raw::c_int,
            ) -> std::os::raw::c_int;
        }
        const M_TRIM_THRESHOLD: std::os::raw::c_int = -1;
        const M_MMAP_THRESHOLD: std::os::raw::c_int = -3;
        // SAFETY: mallopt only changes allocator parameters; both values are within the
        // ranges glibc documents (the mmap threshold maximum is 32 MiB on 64-bit).
        unsafe {
            let mmap = mallopt(M_MMAP_THRESHOLD, 32 << 20);
            let trim = mallopt(M_TRIM_THRESHOLD, 1 << 30);
            mmap == 1 && trim == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
