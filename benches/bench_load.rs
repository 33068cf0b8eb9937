//! Times `Bench::open` on a 500-profile mini benchmark (no image decoding).
//!
//! Run with `cargo bench --features full --bench bench_load` (release) or, to check it
//! works, `cargo run`-style in debug: `cargo build --features full --benches` then run the
//! binary under `target/debug/deps/bench_load-*`.

use mllmu::bench::{mini, Bench, MiniConfig};
use std::time::Instant;

const PROFILES: usize = 500;
const RUNS: usize = 7;

fn main() -> mllmu::Result<()> {
    let dir =
        tempfile::tempdir().map_err(|e| mllmu::Error::io("create", std::env::temp_dir(), e))?;
    let cfg = MiniConfig {
        seed: 1,
        profiles: PROFILES,
        celebrities: 150,
    };
    let t = Instant::now();
    mini::write(dir.path(), &cfg)?;
    println!(
        "wrote a {PROFILES}-profile mini in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let mut times = Vec::with_capacity(RUNS);
    let mut rows = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let bench = Bench::open(dir.path())?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        rows = bench.eval_sets().map(|s| s.len()).sum::<usize>()
            + bench.train_sets().map(|s| s.rows.len()).sum::<usize>();
    }
    times.sort_by(f64::total_cmp);
    let median = times[RUNS / 2];
    println!(
        "Bench::open: median {median:.1} ms over {RUNS} runs ({rows} rows in all folders); \
{:.1} ms per 100 profiles (target < 50 in release)",
        median / (PROFILES as f64 / 100.0)
    );
    Ok(())
}
