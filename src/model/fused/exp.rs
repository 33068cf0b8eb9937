//! The exponential and the logistic sigmoid that the fused kernels use: written without
//! calls or branches, so that a row of them vectorises (libm's `expf` is a call per value).

/// `eˣ` for `x ≤ 0`, within one unit in the last place of the exact value (tested over
/// [−87, 0]; libm's `expf` is as close), written without calls or branches so that a row's
/// worth vectorises: `eˣ = 2ⁿ·e^r` with `n = round(x·log₂e)` (rounded by adding and taking
/// away 1.5·2²³), `r = x − n·ln 2` in two parts, and a degree-7 polynomial for `e^r` on
/// |r| ≤ ½ ln 2 (Cephes' `expf` coefficients). Below −87 (`e⁻⁸⁷` ≈ 1.6·10⁻³⁸, the bottom
/// of float32's normal range) it gives 0: the masked positions and anything within 10⁻³⁸ of
/// them, which no sum of a softmax row can see. NaN stays NaN.
#[inline(always)]
pub(super) fn exp_nonpositive(x: f32) -> f32 {
    // NaN compares false and passes through (`scale` is then some float, `e` stays NaN)
    let xc = if x < EXP_FLOOR { EXP_FLOOR } else { x };
    let shifted = xc * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    // `shifted` lies in ROUND's binade, where one unit in the last place is 1, so its bits
    // minus ROUND's are the integer n, read without a float-to-int cast (which saturates
    // and does not vectorise); 2ⁿ is then n + 127 in the exponent field.
    let k = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(k.wrapping_add(127) << 23);
    if x < EXP_FLOOR {
        0.0
    } else {
        e * scale
    }
}

/// Where [`exp_nonpositive`] stops: `2ⁿ` stays a normal float down to here.
const EXP_FLOOR: f32 = -87.0;
/// 1.5·2²³: adding and taking it away rounds a float32 of magnitude below 2²² to an integer.
const ROUND: f32 = 12_582_912.0;
/// ln 2 in two parts: the high part exact in a few bits, so `n·LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `σ(x) = 1 / (1 + e⁻ˣ)` from [`exp_nonpositive`] of `−|x|` only, so nothing overflows:
/// `1 / (1 + e)` for `x ≥ 0` and `e / (1 + e)` below, with `e = e^−|x|`. Within two units in
/// the last place of the exact value; 0 below −87 (where σ is under 10⁻³⁸) and 1 above
/// 17 (as float32 rounds it); NaN stays NaN.
#[inline(always)]
pub(super) fn sigmoid(x: f32) -> f32 {
    let e = exp_nonpositive(-x.abs());
    let num = if x >= 0.0 { 1.0 } else { e };
    num / (1.0 + e)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_exponential_is_within_one_ulp_zero_below_its_floor_and_keeps_nan() {
        let mut worst = 0f64;
        let mut x = super::EXP_FLOOR;
        while x <= 0.0 {
            let want = f64::from(x).exp();
            let got = f64::from(super::exp_nonpositive(x));
            worst = worst.max(((got - want) / want).abs());
            x += 0.000_37;
        }
        assert!(worst <= f64::from(f32::EPSILON), "relative error {worst:e}");
        assert_eq!(super::exp_nonpositive(0.0), 1.0);
        for x in [-87.001f32, -104.0, -1e30, f32::MIN, f32::NEG_INFINITY] {
            assert_eq!(super::exp_nonpositive(x).to_bits(), 0, "exp({x})");
        }
        assert!(super::exp_nonpositive(f32::NAN).is_nan());
    }

    #[test]
    fn the_sigmoid_is_within_two_ulp_and_saturates_cleanly() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 40.0 {
            let want = 1.0 / (1.0 + (-f64::from(x)).exp());
            let got = f64::from(super::sigmoid(x));
            worst = worst.max(((got - want) / want).abs());
            x += 0.000_71;
        }
        assert!(
            worst <= 2.0 * f64::from(f32::EPSILON),
            "relative error {worst:e}"
        );
        assert_eq!(super::sigmoid(0.0), 0.5);
        assert_eq!(super::sigmoid(50.0), 1.0);
        assert_eq!(super::sigmoid(f32::INFINITY), 1.0);
        assert_eq!(super::sigmoid(-100.0), 0.0);
        assert_eq!(super::sigmoid(f32::NEG_INFINITY), 0.0);
        assert!(super::sigmoid(f32::NAN).is_nan());
    }
}
