//! Fused CPU kernels, each with its own backward pass, for the hot paths of training and
//! inference: linear layers (with their bias) and the products of attention, RMSNorm,
//! LayerNorm, masked softmax, rotary embedding, the split and merge of attention heads,
//! SiLU × gate, QuickGELU and log-sum-exp over the vocabulary; and [`backward`], which
//! hands the linear layers' weight gradients over whole instead of through candle's zeroed
//! accumulation buffers.
//!
//! Written from candle primitives, an RMSNorm is eight graph nodes, each a pass over memory
//! on one thread with its own backward node; here it is one node and one pass, parallel over
//! rows. The kernels run for float32 tensors on the CPU; other dtypes and devices take the
//! composite path of the caller (candle's own kernels on CUDA), and so does everything when
//! fusion is switched off with [`set_enabled`] (what `mllmu bench-model --composite`
//! measures). Each kernel is tested against its composite version: forward within 1e-6
//! relative, gradients within 1e-5.
//!
//! Reductions over rows (the weight gradients of the norms) sum fixed-size chunks in a fixed
//! order, so results do not depend on the number of threads or on scheduling.

/// Defines a function whose body is compiled twice, as built (SSE2 on x86-64) and for AVX2,
/// and runs the AVX2 copy where the CPU has it (detected once; afterwards a load and a branch
/// per call). The kernels' row loops then use 256-bit registers. Results are bit-identical
/// either way: Rust never contracts a multiply and an add into one FMA, and a loop's order of
/// operations is the same at any vector width (sums kept in order stay scalar).
macro_rules! wide_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($a: $t),*) $(-> $r)? {
            #[inline(always)]
            fn body($($a: $t),*) $(-> $r)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            fn avx2($($a: $t),*) $(-> $r)? {
                body($($a),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::model::fused::wide_allowed() && std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked on the line above.
                return unsafe { avx2($($a),*) };
            }
            body($($a),*)
        }
    };
}

/// Whether [`wide_fn!`] functions may take their AVX2 copy on this thread (always, except in
/// tests that compare the two copies).
#[inline(always)]
pub(crate) fn wide_allowed() -> bool {
    #[cfg(test)]
    if BASELINE.with(Cell::get) {
        return false;
    }
    true
}

#[cfg(test)]
thread_local! {
    static BASELINE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the [`wide_fn!`] functions of this thread in their as-built copy.
#[cfg(test)]
pub(crate) fn with_baseline<T>(f: impl FnOnce() -> T) -> T {
    let before = BASELINE.with(|b| b.replace(true));
    let out = f();
    BASELINE.with(|b| b.set(before));
    out
}

pub(crate) use wide_fn;

/// Implements candle's `CustomOp1`, `CustomOp2` or `CustomOp3` for a CPU kernel: `name`, and
/// a `cpu_fwd` that reads each storage as contiguous float32 values ([`values`], the names
/// bound to the values, each with its layout) and stores the block's `(values, shape)`; after
/// `bwd`, the arguments and body of the backward pass (one optional gradient per input).
macro_rules! cpu_op {
    (@grads $v:ident) => { Option<candle_core::Tensor> };
    (@grads $($v:ident),+) => { ($(cpu_op!(@grads $v)),+) };
    (
        @impl $op:ident for $ty:ty, $name:expr,
        |$self:ident $(, $v:ident: $l:ident)+| $body:block $($bwd:tt)*
    ) => {
        impl candle_core::$op for $ty {
            fn name(&$self) -> &'static str {
                $name
            }

            fn cpu_fwd(
                &$self,
                $($v: &candle_core::CpuStorage, $l: &candle_core::Layout),+
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                $(let $v = $crate::model::fused::values($v, $l, $self.name())?;)+
                let (out, shape): (Vec<f32>, candle_core::Shape) = $body;
                Ok((candle_core::CpuStorage::F32(out), shape))
            }

            $($bwd)*
        }
    };
    (
        $op:ident for $ty:ty, $name:expr,
        |$self:ident $(, $v:ident: $l:ident)+| $body:block bwd |$($a:ident),+| $bwd:block
    ) => {
        cpu_op! { @impl $op for $ty, $name, |$self $(, $v: $l)+| $body
            fn bwd(
                &$self,
                $($a: &candle_core::Tensor),+
            ) -> candle_core::Result<cpu_op!(@grads $($v),+)> $bwd
        }
    };
    (
        $op:ident for $ty:ty, $name:expr,
        |$self:ident $(, $v:ident: $l:ident)+| $body:block
    ) => {
        cpu_op! { @impl $op for $ty, $name, |$self $(, $v: $l)+| $body }
    };
}

mod activation;
mod exp;
mod grad_sink;
mod heads;
mod logsumexp;
mod matmul;
mod norm;
mod rope;
mod softmax;

pub(crate) use activation::{quick_gelu, silu_mul};
pub use grad_sink::backward;
pub(crate) use heads::{merge_heads, split_heads};
pub(crate) use logsumexp::logsumexp;
pub(crate) use matmul::{linear, linear_bias, matmul};
pub(crate) use norm::{layer_norm, rms_norm};
pub(crate) use rope::rope_heads;
pub(crate) use softmax::masked_softmax;

use candle_core::{bail, CpuStorage, DType, Layout, Result, Tensor};
use rayon::prelude::*;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(true);

thread_local! {
    /// A per-thread override of [`ENABLED`] (tests compare both paths side by side without
    /// changing what other threads run).
    static OVERRIDE: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Switches the fused CPU kernels on (the default) or off for the whole process; off, every
/// operation takes its composite path (for speed comparisons and for checking one against
/// the other).
///
/// ```
/// use mllmu::model::fused;
/// fused::set_enabled(false);
/// assert!(!fused::enabled());
/// fused::set_enabled(true);
/// assert!(fused::enabled());
/// ```
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether the fused CPU kernels are in use (see [`set_enabled`]).
///
/// ```
/// assert!(mllmu::model::fused::enabled());
/// ```
pub fn enabled() -> bool {
    OVERRIDE
        .with(Cell::get)
        .unwrap_or_else(|| ENABLED.load(Ordering::Relaxed))
}

/// Runs `f` with fusion on or off on this thread only.
#[cfg(test)]
pub(crate) fn with_enabled<T>(on: bool, f: impl FnOnce() -> T) -> T {
    let before = OVERRIDE.with(|o| o.replace(Some(on)));
    let out = f();
    OVERRIDE.with(|o| o.set(before));
    out
}

/// True when every tensor is float32 on the CPU and fusion is on: the fused kernel applies.
pub(crate) fn applies(ts: &[&Tensor]) -> bool {
    enabled()
        && ts
            .iter()
            .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

/// `grad` when `arg` takes part in backpropagation (a variable or computed from one), else
/// `None`: a frozen weight given to a kernel directly must not receive a gradient (candle's
/// own ops never see it, only its broadcast copy).
fn grad_for(arg: &Tensor, grad: impl FnOnce() -> Result<Tensor>) -> Result<Option<Tensor>> {
    if arg.track_op() {
        grad().map(Some)
    } else {
        Ok(None)
    }
}

/// Elements per parallel task: large enough that scheduling costs little, small enough that
/// two to sixteen threads share a layer's rows.
const GRAIN: usize = 16 * 1024;

/// Rows of `width` per parallel task (at least one).
fn rows_per_task(width: usize) -> usize {
    (GRAIN / width.max(1)).max(1)
}

/// The float32 values of a contiguous CPU tensor.
pub(crate) fn values<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("{op}: expected float32 storage")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("{op}: expected a contiguous input"),
    }
}

/// Calls `f(row, out_row)` for every row of `width` in `out`, rows in parallel tasks (on
/// the calling thread when there is one task or one thread: handing a kernel to a lone pool
/// thread only adds a wake-up and moves the data to another core's cache).
fn for_rows(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if width == 0 {
        return;
    }
    let per = rows_per_task(width);
    let task = |(c, chunk): (usize, &mut [f32])| {
        for (j, row) in chunk.chunks_mut(width).enumerate() {
            f(c * per + j, row)
        }
    };
    if out.len() <= per * width || rayon::current_num_threads() == 1 {
        out.chunks_mut(per * width).enumerate().for_each(task);
    } else {
        out.par_chunks_mut(per * width).enumerate().for_each(task);
    }
}

/// Like [`for_rows`], and also sums, over all rows, the `extra`-long vectors that `f` adds
/// into its last argument (weight gradients): partial sums per task, then the tasks in
/// order, so the total is the same whatever the threads.
fn for_rows_summing(
    out: &mut [f32],
    width: usize,
    extra: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut total = vec![0f32; extra];
    if width == 0 {
        return total;
    }
    let per = rows_per_task(width);
    let task = |(c, chunk): (usize, &mut [f32])| {
        let mut acc = vec![0f32; extra];
        for (j, row) in chunk.chunks_mut(width).enumerate() {
            f(c * per + j, row, &mut acc)
        }
        acc
    };
    // The same chunks either way, summed in the same order.
    let partials: Vec<Vec<f32>> = if rayon::current_num_threads() == 1 {
        out.chunks_mut(per * width).enumerate().map(task).collect()
    } else {
        out.par_chunks_mut(per * width)
            .enumerate()
            .map(task)
            .collect()
    };
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

#[cfg(test)]
pub(crate) mod check {
    //! Helpers for the kernel tests: random inputs, relative comparison, gradients of
    //! `Σ f(x)·c` for a fixed random `c`, fused versus composite.
    use candle_core::{backprop::GradStore, Device, Result, Tensor, Var};

    /// Deterministic values in about [-scale, scale].
    pub(crate) fn data(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    /// A variable of `shape` with values from [`data`].
    pub(crate) fn var(shape: &[usize], seed: u64, scale: f32) -> Var {
        let n = shape.iter().product();
        Var::from_tensor(&Tensor::from_vec(data(n, seed, scale), shape, &Device::Cpu).unwrap())
            .unwrap()
    }

    /// `max |a − b| / max |b|` (the error relative to the tensor's scale: single elements
    /// near zero after a cancellation carry the rounding of their larger terms), with the
    /// shapes checked equal.
    pub(crate) fn rel_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims(), "shapes differ");
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let scale = b
            .iter()
            .fold(0f32, |m, y| m.max(y.abs()))
            .max(f32::MIN_POSITIVE);
        let err = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        err / scale
    }

    /// The bit patterns of a tensor's values.
    pub(crate) fn bits(t: &Tensor) -> Vec<u32> {
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        v.iter().map(|f| f.to_bits()).collect()
    }

    /// Absolute difference, for gradients (which can be near zero).
    pub(crate) fn abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims(), "shapes differ");
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// Runs `f` with fusion on and off; returns both outputs and the gradients of
    /// `Σ f(inputs)·c` for each input, in order.
    #[allow(clippy::type_complexity)]
    pub(crate) fn both(
        inputs: &[&Var],
        f: impl Fn() -> Result<Tensor>,
    ) -> ((Tensor, Vec<Tensor>), (Tensor, Vec<Tensor>)) {
        let run = |on: bool| {
            let y = super::with_enabled(on, &f).unwrap();
            let c =
                Tensor::from_vec(data(y.elem_count(), 99, 1.0), y.dims(), &Device::Cpu).unwrap();
            let g: GradStore = (&y * &c).unwrap().sum_all().unwrap().backward().unwrap();
            let grads = inputs
                .iter()
                .map(|v| g.get(v.as_tensor()).expect("no gradient").clone())
                .collect();
            (y, grads)
        };
        (run(true), run(false))
    }

    /// Asserts forward within 1e-6 relative and gradients within `grad_tol` absolute.
    pub(crate) fn assert_close(
        what: &str,
        ((yf, gf), (yc, gc)): ((Tensor, Vec<Tensor>), (Tensor, Vec<Tensor>)),
        grad_tol: f32,
    ) {
        let d = rel_diff(&yf, &yc);
        assert!(d <= 1e-6, "{what}: forward differs by {d:e} (relative)");
        for (i, (a, b)) in gf.iter().zip(&gc).enumerate() {
            let d = abs_diff(a, b);
            assert!(d <= grad_tol, "{what}: gradient {i} differs by {d:e}");
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn row_sums_do_not_depend_on_the_number_of_threads() {
        let width = 300;
        let rows = 2000; // several tasks
        let x = check::data(width * rows, 5, 1.0);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut out = vec![0f32; width * rows];
                for_rows_summing(&mut out, width, width, |r, row, acc| {
                    for (i, (o, a)) in row.iter_mut().zip(acc.iter_mut()).enumerate() {
                        *o = x[r * width + i];
                        *a += x[r * width + i] * 1.37;
                    }
                })
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(5));
        // and the sums are the sums
        let direct: f32 = (0..rows).map(|r| x[r * width + 3] * 1.37).sum();
        assert!((one[3] - direct).abs() < 1e-3, "{} vs {direct}", one[3]);
    }

    #[test]
    fn the_switch_decides_whether_kernels_apply() {
        let f32t = Tensor::zeros(3, DType::F32, &candle_core::Device::Cpu).unwrap();
        let f64t = Tensor::zeros(3, DType::F64, &candle_core::Device::Cpu).unwrap();
        assert!(applies(&[&f32t]));
        assert!(
            !applies(&[&f32t, &f64t]),
            "float64 takes the composite path"
        );
        assert!(!with_enabled(false, || applies(&[&f32t])));
        assert!(applies(&[&f32t]), "the override ends with the closure");
    }
}
