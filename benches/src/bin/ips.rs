//! Prints guest instructions per second of each benchmark loop once (a quick look without
//! criterion's statistics): `cargo run --release -p hvbench-benches --bin ips [a] [b] [c]`
//! (no arguments: all three). `IPS_DIV=n` in the environment divides the loop counts by n
//! (for instruction-counting runs under valgrind).

use hvbench_benches::{array_loop, page_stride_loop, register_loop, Workload};
use std::time::Instant;

fn measure(name: &str, mut w: Workload) {
    let expected = w.instructions;
    let t = Instant::now();
    let n = w.run();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(n, expected, "{name}: retired {n}, expected {expected}");
    println!("{name:<28} {n:>12} instructions {secs:>8.3} s {:>10.1} M instructions/s", n as f64 / secs / 1e6);
}

fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let want = |k: &str| only.is_empty() || only.iter().any(|a| a == k);
    let div: u32 = std::env::var("IPS_DIV").ok().and_then(|v| v.parse().ok()).filter(|&d| d > 0).unwrap_or(1);
    if want("a") {
        measure("a: register loop", register_loop(50_000_000 / div));
    }
    if want("b") {
        measure("b: array loop 1 MiB", array_loop((40 / div).max(1)));
    }
    if want("c") {
        measure("c: page stride (TLB miss)", page_stride_loop((40 / div).max(1)));
    }
}
