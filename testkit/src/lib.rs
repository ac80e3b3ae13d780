//! Test support shared by the hvbench crates' tests (a dev-dependency only).

use proptest::test_runner::{Config, RngSeed};

/// The seed every property test uses unless `PROPTEST_RNG_SEED` says otherwise.
pub const SEED: u64 = 0x6876_6265_6e63_6800;

/// A proptest configuration that runs the same cases on every run (determinism: a failure
/// seen once is seen again), with `default_cases` cases unless `PROPTEST_CASES` is set and
/// the fixed [`SEED`] unless `PROPTEST_RNG_SEED` is set. No failure-persistence files.
pub fn deterministic_config(default_cases: u32) -> Config {
    let env = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { env.cases } else { default_cases },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() { env.rng_seed } else { RngSeed::Fixed(SEED) },
        failure_persistence: None,
        ..env
    }
}
