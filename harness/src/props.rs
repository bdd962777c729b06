//! The one configuration every property test of the lab runs with.
//!
//! Property tests (proptest) draw their cases from a random generator. In a workshop that
//! randomness must not surprise anyone, so every property test uses
//! [`proptest_config!`](crate::proptest_config):
//!
//! - **a fixed seed** ([`SEED`]): every run, on every laptop, tries the same cases, so a test
//!   that passed in rehearsal passes in the room, and a failure is reproducible;
//! - **the seed printed** at the start of the test: `cargo test` shows a test's output only
//!   when it fails, so the seed appears exactly when it is needed;
//! - **no regression files**: proptest normally saves failing cases under
//!   `proptest-regressions/`, which would dirty `exercises/` (generated, committed files);
//! - **few shrink iterations** ([`MAX_SHRINK_ITERS`], [`MAX_SHRINK_MILLIS`]): a `todo!()`
//!   fails every case, and shrinking must not turn that into a long wait.
//!
//! To try other cases, set proptest's own variable: `PROPTEST_RNG_SEED=7 cargo test -p <crate>`
//! runs with seed 7 (and prints it); `PROPTEST_CASES=1000` runs more cases. Both work with the
//! `proptest!` macro and with a `TestRunner` built from this configuration.
//!
//! ```text
//! use proptest::prelude::*;
//!
//! proptest! {
//!     #![proptest_config(harness::proptest_config!(64))]
//!     #[test]
//!     fn reversing_twice_is_the_identity(v in proptest::collection::vec(any::<u8>(), 0..100)) {
//!         let mut w = v.clone();
//!         w.reverse();
//!         w.reverse();
//!         prop_assert_eq!(v, w);
//!     }
//! }
//! ```
//!
//! The macro expands in the calling crate, so the harness itself does not depend on proptest;
//! the calling crate needs `proptest` as a (dev-)dependency under that name.

/// The seed every property test starts from unless `PROPTEST_RNG_SEED` says otherwise.
pub const SEED: u64 = 2024;

/// How many simplifications proptest tries on a failing case before it reports it.
pub const MAX_SHRINK_ITERS: u32 = 32;

/// A bound on the time spent shrinking, whatever the iterations.
pub const MAX_SHRINK_MILLIS: u32 = 2_000;

/// The environment variable proptest reads for its seed.
pub const SEED_VAR: &str = "PROPTEST_RNG_SEED";

/// Prints the line that makes a failing property test reproducible.
pub fn announce(seed: u64, cases: u32) {
    println!(
        "proptest: seed {seed}, {cases} cases (replay with {SEED_VAR}={seed}; try others with {SEED_VAR}=<u64>)"
    );
}

/// The lab's `proptest::test_runner::Config` for `cases` cases: fixed seed (printed), no
/// regression files, short shrinking. See the [module documentation](crate::props).
///
/// Use it as `#![proptest_config(harness::proptest_config!(64))]` inside `proptest!`, or as
/// `TestRunner::new(harness::proptest_config!(64))`.
#[macro_export]
macro_rules! proptest_config {
    ($cases:expr) => {{
        use ::proptest::test_runner::{Config, RngSeed, contextualize_config};
        // The lab's settings, then proptest's environment variables over them
        // (`PROPTEST_RNG_SEED`, `PROPTEST_CASES`, ...), as the `proptest!` macro would do.
        let config = contextualize_config(Config {
            cases: $cases,
            rng_seed: RngSeed::Fixed($crate::props::SEED),
            failure_persistence: ::core::option::Option::None,
            max_shrink_iters: $crate::props::MAX_SHRINK_ITERS,
            max_shrink_time: $crate::props::MAX_SHRINK_MILLIS,
            ..Config::default()
        });
        if let RngSeed::Fixed(seed) = config.rng_seed {
            $crate::props::announce(seed, config.cases);
        }
        config
    }};
}
