//! `--device` and `--dtype`: one definition, flattened into every command that runs a model.

use candle_core::{DType, Device};
use mllmu::model::device;
use mllmu::Result;

/// Where a command runs its model, and in which precision.
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Run on auto, cpu, cuda or cuda:N
    #[arg(long, value_name = "DEVICE", default_value = "auto")]
    pub device: String,
    /// Compute in f32, f16 or bf16 [default: bf16 on a GPU, f32 on the CPU]
    #[arg(long, value_name = "DTYPE")]
    pub dtype: Option<String>,
}

impl DeviceArgs {
    /// The device named by `--device` and the dtype of `--dtype` (or the device's default).
    pub fn resolve(&self) -> Result<(Device, DType)> {
        let dev = device::parse(&self.device)?;
        let dtype = (self.dtype.as_deref())
            .map_or_else(|| Ok(device::default_dtype(&dev)), device::parse_dtype)?;
        Ok((dev, dtype))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_defaults_to_f32_and_bad_values_name_the_flag() {
        let args = |device: &str, dtype: Option<&str>| DeviceArgs {
            device: device.into(),
            dtype: dtype.map(Into::into),
        };
        let (dev, dtype) = args("cpu", None).resolve().unwrap();
        assert!(dev.is_cpu());
        assert_eq!(dtype, DType::F32);
        assert_eq!(args("cpu", Some("bf16")).resolve().unwrap().1, DType::BF16);
        let err = |a: DeviceArgs| a.resolve().unwrap_err().to_string();
        assert!(err(args("tpu", None)).contains("tpu"));
        assert!(err(args("cpu", Some("f8"))).contains("f8"));
    }
}
