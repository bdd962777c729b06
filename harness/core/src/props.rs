//! The one configuration every property test of the lab runs with.
//!
//! Property tests (proptest) draw their cases from a random generator. In a workshop that
//! randomness must not surprise anyone, so every property test runs with
//! [`proptest_config!`](crate::proptest_config):
//!
//! - **a fixed seed** ([`SEED`]): every run, on every laptop, tries the same cases, so a test
//!   that passed in rehearsal passes in the room, and a failure is reproducible;
//! - **the seed printed** at the start of the test: `cargo test` shows a test's output only
//!   when it fails, so the seed appears exactly when it is needed;
//! - **no regression files**: proptest normally saves failing cases under
//!   `proptest-regressions/`, which would dirty `exercises/` (generated, committed files);
//! - **short shrinking** ([`MAX_SHRINK_ITERS`], [`MAX_SHRINK_MILLIS`]): a failure is
//!   reported within seconds, with a case simplified enough to read.
//!
//! [`for_all!`](crate::for_all) runs a property with that configuration and adds what an
//! exercise needs: a property that *panics* (a `todo!()` does, on every case) is reported
//! once, with its location and the case that hit it, instead of once per shrinking step
//! ([`PanicOnce`]). Code after it in the same `#[test]` runs only if the property held, which
//! is where an exercise puts its negative control:
//!
//! ```text
//! use proptest::prelude::*;
//!
//! #[test]
//! fn reversing_twice_is_the_identity() {
//!     harness::for_all!(64, proptest::collection::vec(any::<u8>(), 0..100), |v| {
//!         let mut w = v.clone();
//!         w.reverse();
//!         w.reverse();
//!         prop_assert_eq!(v, w);
//!         Ok(())
//!     });
//! }
//! ```
//!
//! Inside `proptest!`, use `#![proptest_config(harness::proptest_config!(64))]`.
//!
//! To try other cases, set proptest's own variables: `PROPTEST_RNG_SEED=7 cargo test -p <crate>`
//! runs with seed 7 (and prints it); `PROPTEST_CASES=1000` runs more cases.
//!
//! The macros expand in the calling crate, so the harness itself does not depend on proptest;
//! the calling crate needs `proptest` as a (dev-)dependency under that name.

use node_kit::sync::Mutex;
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The seed every property test starts from unless `PROPTEST_RNG_SEED` says otherwise.
pub const SEED: u64 = 2024;

/// How many simplifications proptest tries on a failing case before it reports it.
pub const MAX_SHRINK_ITERS: u32 = 256;

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

/// Runs a property on the cases of a proptest strategy with the lab's configuration
/// ([`proptest_config!`](crate::proptest_config)), and fails the test with the first panic
/// ([`PanicOnce`]) or with proptest's smallest failing case.
///
/// `harness::for_all!(cases, strategy, |value| { ...; Ok(()) })`: the property returns a
/// `TestCaseResult`, so `prop_assert!` and friends work in it.
#[macro_export]
macro_rules! for_all {
    ($cases:expr, $strategy:expr, $property:expr $(,)?) => {{
        fn for_all<S>(
            config: ::proptest::test_runner::Config,
            strategy: S,
            property: impl Fn(S::Value) -> ::proptest::test_runner::TestCaseResult,
        ) where
            S: ::proptest::strategy::Strategy,
            S::Value: ::std::fmt::Debug,
        {
            let panics = $crate::props::PanicOnce::default();
            let mut runner = ::proptest::test_runner::TestRunner::new(config);
            let outcome = runner.run(&strategy, |case| {
                if panics.happened() {
                    // Shrinking a panic: nothing to learn, and every run would print it again.
                    return Ok(());
                }
                panics.call(case, &property).unwrap_or_else(|panic| {
                    Err(::proptest::test_runner::TestCaseError::fail(panic))
                })
            });
            panics.check();
            if let Err(failure) = outcome {
                ::std::panic!("{failure}");
            }
        }
        for_all($crate::proptest_config!($cases), $strategy, $property)
    }};
}

/// Lets a property panic once per test.
///
/// proptest catches a panicking case and then shrinks it, running simpler and simpler cases
/// that panic again, each printing its panic: a `todo!()` would fill the screen. With
/// `PanicOnce`, the first panic prints as usual (location and all) and is remembered with its
/// case; once [`PanicOnce::happened`], `for_all!` lets the remaining shrinking steps pass
/// without running them, and [`PanicOnce::check`] ends the test with the remembered panic.
#[derive(Default)]
pub struct PanicOnce {
    /// The first panic's message, and the case that caused it (`{:#?}`).
    first: Mutex<Option<(String, String)>>,
}

impl PanicOnce {
    /// Runs `property` on `case`; `Err(message)` if it panicked, remembering the first panic.
    pub fn call<C: Debug, T>(&self, case: C, property: impl FnOnce(C) -> T) -> Result<T, String> {
        // Formatted before the property takes the case: after a panic it is gone.
        let shown = format!("{case:#?}");
        catch_unwind(AssertUnwindSafe(|| property(case))).map_err(|payload| {
            let message = if let Some(s) = payload.downcast_ref::<&str>() {
                s.to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "a panic without a message".to_string()
            };
            self.lock().get_or_insert((message.clone(), shown));
            message
        })
    }

    /// Has a case panicked?
    pub fn happened(&self) -> bool {
        self.lock().is_some()
    }

    /// Panics with the first panic's message and its case, if a case panicked.
    #[track_caller]
    pub fn check(&self) {
        if let Some((message, case)) = self.lock().take() {
            panic!("a case of the property panicked: {message}\nthe case: {case}");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(String, String)>> {
        self.first.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_panic_is_kept_with_its_case() {
        let panics = PanicOnce::default();
        assert_eq!(panics.call(3, |n| n * 2), Ok(6));
        assert!(!panics.happened());
        let outcome: Result<(), String> = panics.call(("n1", 7), |_| todo!("place the vnodes"));
        assert_eq!(
            outcome,
            Err("not yet implemented: place the vnodes".to_string())
        );
        let _: Result<(), String> = panics.call(8, |_| panic!("a later panic"));
        assert!(panics.happened());
        let report = catch_unwind(|| panics.check()).expect_err("check fails the test");
        let report = report
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(
            report.contains("not yet implemented: place the vnodes")
                && report.contains("\"n1\"")
                && !report.contains("later"),
            "{report}"
        );
    }
}
