//! The lab's one progress bar: how far a timed run (a load run, a scenario) has got, with a
//! line of live figures, on stderr and only while a person watches. `load` updates it from
//! its counters; a scenario's run updates it as its [`harness::scenario::Observer`].

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over a run of known length; cleared from the terminal when dropped or finished.
pub struct Bar {
    bar: ProgressBar,
    /// The run's length, shown next to the elapsed time.
    total: Duration,
}

impl Bar {
    /// A bar for a run of `total`, or `None` when nobody watches (stderr is not a terminal,
    /// as in CI or a pipe) or the run is too short to wonder about.
    pub fn for_run(total: Duration) -> Option<Bar> {
        if total < Duration::from_secs(2) || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::new(millis(total));
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        // The spinner turns between updates, so a run that reports once a second looks alive.
        bar.enable_steady_tick(Duration::from_millis(100));
        Some(Bar { bar, total })
    }

    /// Shows the run at `elapsed`, with `figures` such as `sent 120 · errors 0`.
    pub fn show(&self, elapsed: Duration, figures: &str) {
        let elapsed = elapsed.min(self.total);
        self.bar.set_position(millis(elapsed));
        self.bar.set_message(format!(
            "{:.1}/{} s · {figures}",
            elapsed.as_secs_f64(),
            self.total.as_secs_f64()
        ));
    }

    /// Takes the bar off the terminal, so what the run prints next starts on a clean line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A scenario drives the same bar, once a second with the last second's figures.
impl harness::scenario::Observer for Bar {
    fn second(&self, live: &harness::scenario::Live) {
        self.show(
            live.elapsed,
            &format!(
                "sent {} · {} errors in the last second",
                live.sent, live.errors
            ),
        );
        if live.elapsed >= live.total {
            self.finish();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
