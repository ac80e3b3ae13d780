//! Support code for the criterion benchmarks in benches/benches.
