//! Matrix products `op(A)·op(B)` (`op` = as is, or transposed) over the last two dimensions
//! of float32 CPU tensors, one node whose backward is two more such products.
//!
//! Written with candle's `matmul`, a transposed operand is a `t()` node whose backward turns
//! the gradient around and adds it, strided, into a zeroed buffer, and every product hands
//! the whole matrix to gemm's own threading. Here the threads take disjoint row or column blocks
//! of the result (or whole matrices of a batch), each running gemm on one thread: on two cores
//! that is 5–20 % faster for the layers' shapes and about twice as fast for the small
//! products of attention. Every element is summed in the same order whatever the split, so
//! results do not depend on the number of threads. Strided operands are read in place.

use super::grad_sink::weight_grad_for;
use super::{for_rows, grad_for, rows_per_task, values};
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `op_a(a)·op_b(b)` over the last two dimensions; leading (batch) dimensions must agree.
/// `ta`/`tb` transpose the operand. Strided inputs are read as they are: a transposed view
/// or a narrowed cache costs no copy.
pub(crate) fn matmul(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    a.apply_op2(b, MatMul { ta, tb })
}

/// `x·Wᵀ` for `x` `[rows, in]` and `w` `[out, in]`: the backward writes the weight's
/// gradient `gᵀ·x` in the weight's own layout.
pub(crate) fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    matmul(x, w, false, true)
}

/// `x·Wᵀ + b` for `x` `[rows, in]`, `w` `[out, in]` and `b` `[out]`, one node (written with
/// candle's ops, the bias is a broadcast node and an add node, each a full-size pass and a
/// gradient accumulated on one thread, and the bias's gradient a serial sum). The values
/// are candle's: the product, then the bias added to each element. The bias's gradient is
/// the column sums of the upstream gradient, summed in fixed row blocks (the same whatever
/// the threads).
pub(crate) fn linear_bias(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.apply_op3(w, b, LinearBias)
}

struct LinearBias;

impl CustomOp3 for LinearBias {
    fn name(&self) -> &'static str {
        "mllmu-linear-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (out, shape) = MatMul {
            ta: false,
            tb: true,
        }
        .cpu_fwd(s1, l1, s2, l2)?;
        let bias = values(s3, l3, self.name())?;
        let n = shape.dims().last().copied().unwrap_or(0);
        if bias.len() != n {
            bail!("{}: bias of {} for {n} outputs", self.name(), bias.len())
        }
        let CpuStorage::F32(mut y) = out else {
            bail!("{}: expected float32 storage", self.name())
        };
        for_rows(&mut y, n, |_, row| {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b
            }
        });
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = grad_for(x, || matmul(g, w, false, false))?;
        let dw = weight_grad_for(w, || matmul(g, x, true, false))?;
        let db = grad_for(b, || g.contiguous()?.apply_op1_no_bwd(&ColumnSums))?;
        Ok((dx, dw, db))
    }
}

/// Column sums of a contiguous `[rows, n]` matrix: partial sums over fixed blocks of rows,
/// in parallel, then the blocks in order.
struct ColumnSums;

cpu_op! { CustomOp1 for ColumnSums, "mllmu-column-sums", |self, g: l| {
    let n = l.dims().last().copied().unwrap_or(0);
    let mut total = vec![0f32; n];
    if n > 0 {
        let block = rows_per_task(n) * n;
        let partial = |rows: &[f32]| {
            let mut acc = vec![0f32; n];
            for row in rows.chunks(n) {
                for (a, v) in acc.iter_mut().zip(row) {
                    *a += v
                }
            }
            acc
        };
        let partials: Vec<Vec<f32>> = if g.len() <= block || rayon::current_num_threads() == 1 {
            g.chunks(block).map(partial).collect()
        } else {
            g.par_chunks(block).map(partial).collect()
        };
        for p in partials {
            for (t, v) in total.iter_mut().zip(p) {
                *t += v
            }
        }
    }
    (total, Shape::from(n))
}}

#[derive(Clone, Copy)]
struct MatMul {
    ta: bool,
    tb: bool,
}

/// One matrix as gemm reads it: rows, columns and strides of `op(X)`.
#[derive(Clone, Copy)]
struct View {
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
}

/// An operand: its storage, where each batch's matrix starts, and how to read it.
struct Operand<'a> {
    data: &'a [f32],
    starts: Vec<usize>,
    view: View,
}

impl<'a> Operand<'a> {
    /// `op(X)` for every batch of `X`, read through the layout's strides.
    fn new(s: &'a CpuStorage, l: &Layout, transposed: bool, op: &str) -> Result<Self> {
        let CpuStorage::F32(data) = s else {
            bail!("{op}: expected float32 storage")
        };
        let (dims, stride) = (l.dims(), l.stride());
        let rank = dims.len();
        if rank < 2 {
            bail!("{op}: expected matrices, got shape {dims:?}")
        }
        let (r, c) = (dims[rank - 2], dims[rank - 1]);
        let (rs, cs) = (stride[rank - 2] as isize, stride[rank - 1] as isize);
        let (rows, cols, rs, cs) = if transposed {
            (c, r, cs, rs)
        } else {
            (r, c, rs, cs)
        };
        let view = View { rows, cols, rs, cs };
        let batch_dims = &dims[..rank - 2];
        let starts = (0..batch_dims.iter().product())
            .map(|mut i: usize| {
                let mut at = l.start_offset();
                for (&d, &st) in batch_dims.iter().zip(&stride[..rank - 2]).rev() {
                    at += (i % d) * st;
                    i /= d;
                }
                at
            })
            .collect();
        Ok(Operand { data, starts, view })
    }

    /// The first value of batch `i`.
    fn at(&self, i: usize) -> *const f32 {
        self.data[self.starts[i]..].as_ptr()
    }
}

/// Below this many multiply-adds a product runs on the calling thread.
const PARALLEL_WORK: usize = 1 << 15;

/// Rows or columns of a parallel block: a multiple of the micro-kernels' sizes.
const BLOCK_ALIGN: usize = 16;

/// Parallel blocks per thread when one product is split (measured on two cores with the
/// 40M-parameter bench model: 4 blocks per thread took the training step 0.766 → 0.733 s,
/// mean of 6 alternating runs; 3 gained nothing).
const BLOCKS_PER_THREAD: usize = 4;

/// The narrowest block of a split product, in rows or columns: narrower blocks would
/// repack the other operand more often than the balance gains.
const MIN_BLOCK: usize = 64;

/// `dst` (`m × n`, row stride `dst_rs`) `= lhs · rhs` on this thread.
///
/// # Safety
/// `dst` addresses `m × n` writable values; `lhs` and `rhs` address `m × k` and `k × n`
/// values through their views' strides.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm1(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: isize,
    lhs: *const f32,
    l: View,
    rhs: *const f32,
    r: View,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs,
        false,
        lhs,
        l.cs,
        l.rs,
        rhs,
        r.cs,
        r.rs,
        0f32,
        1f32,
        false,
        false,
        false,
        gemm::Parallelism::None,
    )
}

/// A raw pointer that may cross threads (each task writes its own disjoint block).
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: only used for disjoint writes inside one `products` call, which outlives them.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer moved by `offset` values (a method, so closures capture the whole
    /// `SendPtr` rather than its field).
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// The products `op(A_i)·op(B_i)` of every batch `i`, back to back.
fn products(a: &Operand, b: &Operand) -> Vec<f32> {
    let (l, r, batch) = (a.view, b.view, a.starts.len());
    let (m, k, n) = (l.rows, l.cols, r.cols);
    let c_step = m * n;
    if k == 0 || c_step == 0 {
        return vec![0f32; batch * c_step];
    }
    let mut out: Vec<f32> = Vec::with_capacity(batch * c_step);
    let dst = SendPtr(out.as_mut_ptr());
    let threads = rayon::current_num_threads();
    // SAFETY: `out` has room for `batch` results of `m·n`; batch `i` is read through views
    // that candle's layouts keep inside the storages; parallel tasks write disjoint batches
    // or disjoint blocks of one batch (rows `r0..r1`, columns `c0..c1`); every element is
    // written before `set_len`.
    let one = |i: usize, (r0, r1): (usize, usize), (c0, c1): (usize, usize)| unsafe {
        gemm1(
            r1 - r0,
            c1 - c0,
            k,
            dst.at(i * c_step + r0 * n + c0),
            n as isize,
            a.at(i).offset(r0 as isize * l.rs),
            l,
            b.at(i).offset(c0 as isize * r.cs),
            r,
        )
    };
    if threads == 1 || batch * m * n * k < PARALLEL_WORK {
        (0..batch).for_each(|i| one(i, (0, m), (0, n)));
    } else if batch >= threads {
        (0..batch)
            .into_par_iter()
            .for_each(|i| one(i, (0, m), (0, n)));
    } else {
        // Each task packs its own block of one operand and all of the other: split the
        // dimension of the larger operand, so the one every task packs is the smaller.
        // Several blocks per thread, so a thread held up (by the OS, a page fault, a slower
        // edge block) leaves its remaining blocks to the others instead of keeping them
        // waiting; blocks stay at least MIN_BLOCK wide (or the two-way split's width).
        let split = |len: usize| {
            let align = |w: usize| w.div_ceil(BLOCK_ALIGN) * BLOCK_ALIGN;
            let halves = align(len.div_ceil(threads));
            let width = align(len.div_ceil(threads * BLOCKS_PER_THREAD)).max(MIN_BLOCK.min(halves));
            (width, len.div_ceil(width))
        };
        if m > n {
            let (width, blocks) = split(m);
            (0..batch * blocks).into_par_iter().for_each(|t| {
                let (i, c) = (t / blocks, t % blocks);
                one(i, (c * width, ((c + 1) * width).min(m)), (0, n))
            });
        } else {
            let (width, blocks) = split(n);
            (0..batch * blocks).into_par_iter().for_each(|t| {
                let (i, c) = (t / blocks, t % blocks);
                one(i, (0, m), (c * width, ((c + 1) * width).min(n)))
            });
        }
    }
    // SAFETY: every element was written above.
    unsafe { out.set_len(batch * c_step) };
    out
}

impl CustomOp2 for MatMul {
    fn name(&self) -> &'static str {
        "mllmu-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = Operand::new(s1, l1, self.ta, self.name())?;
        let b = Operand::new(s2, l2, self.tb, self.name())?;
        let (da, db) = (l1.dims(), l2.dims());
        let rank = da.len();
        if db.len() != rank || da[..rank - 2] != db[..rank - 2] {
            bail!(
                "{}: operands {da:?} and {db:?} need the same batch dimensions",
                self.name()
            )
        }
        if a.view.cols != b.view.rows {
            bail!(
                "{}: inner dimensions differ ({da:?}, {db:?}, transposed {}/{})",
                self.name(),
                self.ta,
                self.tb
            )
        }
        let mut dims = da[..rank - 2].to_vec();
        dims.extend([a.view.rows, b.view.cols]);
        Ok((CpuStorage::F32(products(&a, &b)), Shape::from(dims)))
    }

    /// For `C = op_a(A)·op_b(B)` and upstream `G`:
    /// `dA = G·op_b(B)ᵀ` (or its transpose `op_b(B)·Gᵀ` when `A` entered transposed), and
    /// `dB = op_a(A)ᵀ·G` (or `Gᵀ·op_a(A)` when `B` entered transposed).
    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let MatMul { ta, tb } = *self;
        let da = grad_for(a, || {
            if ta {
                matmul(b, g, tb, true)
            } else {
                matmul(g, b, false, !tb)
            }
        })?;
        // a weight's gradient goes whole to `fused::backward`'s sink, when one is open
        let db = weight_grad_for(b, || {
            if tb {
                matmul(g, a, true, ta)
            } else {
                matmul(a, g, !ta, false)
            }
        })?;
        Ok((da, db))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, bits, both, data, var};
    use candle_core::{Device, Tensor};

    #[test]
    fn every_transposition_matches_candle_with_its_gradients() {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            // op(A) is 3 × 2 × 37 × 20, op(B) 3 × 2 × 20 × 29
            let sa = if ta { [3, 2, 20, 37] } else { [3, 2, 37, 20] };
            let sb = if tb { [3, 2, 29, 20] } else { [3, 2, 20, 29] };
            let (a, b) = (var(&sa, 1, 1.0), var(&sb, 2, 1.0));
            let out = both(&[&a, &b], || {
                if super::super::enabled() {
                    super::matmul(a.as_tensor(), b.as_tensor(), ta, tb)
                } else {
                    let t = |x: &Tensor, t: bool| if t { x.t() } else { Ok(x.clone()) };
                    t(a.as_tensor(), ta)?.matmul(&t(b.as_tensor(), tb)?)
                }
            });
            assert_close(&format!("matmul {ta}/{tb}"), out, 1e-5);
        }
    }

    #[test]
    fn linear_matches_the_composite_version() {
        let x = var(&[37, 48], 1, 2.0);
        let w = var(&[29, 48], 2, 0.5);
        let out = both(&[&x, &w], || {
            let lin = crate::model::linear::Linear {
                name: "l".into(),
                weight: w.as_tensor().clone(),
                bias: None,
                lora: None,
            };
            candle_nn::Module::forward(&lin, x.as_tensor())
        });
        assert_close("linear", out, 1e-5);
    }

    #[test]
    fn linear_with_bias_matches_the_composite_version() {
        // rows enough for three blocks of the bias's column sums (565 rows of 29 per block)
        let x = var(&[1500, 48], 1, 2.0);
        let w = var(&[29, 48], 2, 0.5);
        let b = var(&[29], 3, 1.0);
        let out = both(&[&x, &w, &b], || {
            let lin = crate::model::linear::Linear {
                name: "l".into(),
                weight: w.as_tensor().clone(),
                bias: Some(b.as_tensor().clone()),
                lora: None,
            };
            candle_nn::Module::forward(&lin, x.as_tensor())
        });
        // the forward values are candle's, to the bit
        assert_eq!(bits(&(out.0).0), bits(&(out.1).0));
        // the bias's gradient sums 1,500 rows (about 20 in size): compared relative to its
        // scale, since summing in blocks instead of one run rounds differently
        let ((yf, mut gf), (yc, mut gc)) = out;
        let (bf, bc) = (gf.pop().unwrap(), gc.pop().unwrap());
        let d = super::super::check::rel_diff(&bf, &bc);
        assert!(d <= 1e-6, "bias gradient differs by {d:e} (relative)");
        assert_close("linear with bias", ((yf, gf), (yc, gc)), 1e-5);
    }

    #[test]
    fn results_do_not_depend_on_the_number_of_threads() {
        // large enough to split: one matrix split by columns, one by rows, and a batch of many
        for dims in [(1, 150, 70, 333), (1, 333, 70, 150), (6, 40, 90, 50)] {
            let (bt, m, k, n) = dims;
            let (av, bv) = (data(bt * m * k, 3, 1.0), data(bt * n * k, 4, 1.0));
            let a = Tensor::from_vec(av.clone(), (bt, m, k), &Device::Cpu).unwrap();
            let b = Tensor::from_vec(bv.clone(), (bt, n, k), &Device::Cpu).unwrap();
            let run = |threads: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| super::matmul(&a, &b, false, true).unwrap())
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            };
            let one = run(1);
            assert_eq!(one, run(2), "{dims:?}");
            assert_eq!(one, run(3), "{dims:?}");
            // a[0, 1, :] · b[0, 2, :]
            let want: f32 = (0..k).map(|j| av[k + j] * bv[2 * k + j]).sum();
            assert!((one[n + 2] - want).abs() < 1e-4, "{} vs {want}", one[n + 2]);
        }
    }

    #[test]
    fn a_frozen_weight_gets_no_gradient() {
        let x = var(&[3, 4], 1, 1.0);
        let w = Tensor::ones((2, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let y = super::linear(x.as_tensor(), &w).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        assert!(g.get(&w).is_none());
        // d Σ x·Wᵀ / dx = column sums of W = 2 everywhere
        let dx = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        assert!(dx.to_vec1::<f32>().unwrap().iter().all(|v| *v == 2.0));
    }

    #[test]
    fn mismatched_operands_are_an_error() {
        let a = Tensor::zeros((2, 3, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::zeros((3, 4, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(super::matmul(&a, &b, false, false).is_err(), "batch dims");
        let b = Tensor::zeros((2, 5, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(super::matmul(&a, &b, false, false).is_err(), "inner dims");
        assert!(super::matmul(&a, &b, false, true).is_err());
    }
}
