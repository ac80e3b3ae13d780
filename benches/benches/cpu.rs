//! Guest instructions per second of the CPU core on three loops (see `hvbench_benches`):
//! (a) registers only, (b) load/add/store over 1 MiB with paging, (c) a TLB miss every few
//! instructions. Criterion reports throughput in guest instructions ("elements") per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hvbench_benches::{array_loop, page_stride_loop, register_loop, Workload};

fn bench(c: &mut Criterion, name: &str, make: impl Fn() -> Workload) {
    let instructions = make().instructions;
    let mut g = c.benchmark_group("cpu");
    g.throughput(Throughput::Elements(instructions));
    g.sample_size(10);
    g.bench_function(name, |b| {
        b.iter_batched(
            &make,
            |mut w| {
                let n = w.run();
                assert_eq!(n, instructions, "the workload retired an unexpected number of instructions");
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn cpu(c: &mut Criterion) {
    bench(c, "a_register_loop", || register_loop(5_000_000));
    bench(c, "b_array_loop_1MiB", || array_loop(10));
    bench(c, "c_page_stride_tlb_miss", || page_stride_loop(20));
}

criterion_group!(benches, cpu);
criterion_main!(benches);
