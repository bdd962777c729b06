//! The terminal's short table: the verdict, one line per check, the offenders of a failed
//! check with their log lines, the load in one line, the report's path.

use std::fmt::Write as _;
use std::path::Path;

use super::Verdict;

/// What the load line's words mean, for a reader who has not read the harness.
pub(super) const LEGEND: &str = "late: sent over 2 ms after its scheduled time (the generator fell behind); \
     unknown: no answer (a timeout, a lost reply): it may or may not have happened";

/// Log lines shown under each offender in the terminal (the page and `verdict.json` have
/// more).
const LOG_LINES: usize = 3;

/// The terminal's summary: the verdict, one line per check (a failed one with its offenders
/// and their nodes' last log lines), the load in one line, the path.
pub fn table(verdict: &Verdict, report: &Path) -> String {
    let mut out = String::new();
    let word = verdict.outcome.word();
    let seed = verdict
        .seed
        .map(|s| format!(" (seed {s})"))
        .unwrap_or_default();
    let _ = writeln!(out, "{word}  {}{seed}", verdict.title);
    let width = verdict
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for c in &verdict.checks {
        let mark = if c.passed { "ok  " } else { "FAIL" };
        let figure = format!("{} {}", number(c.figure), c.unit);
        let bound = format!("{} {}", c.bound.symbol(), number(c.threshold));
        let mut line = format!("  {mark}  {:width$}  {figure:>12}  {bound:<10}", c.name);
        if !c.passed {
            line += &format!("  {}", c.detail);
        }
        let _ = writeln!(out, "{}", line.trim_end());
        if c.passed {
            continue;
        }
        for offender in &c.offenders {
            let _ = writeln!(out, "        {}", offender.line());
            let skip = offender.log.len().saturating_sub(LOG_LINES);
            for log in offender.log.iter().skip(skip) {
                let _ = writeln!(out, "          | {}: {}", offender.node, clip(log, 110));
            }
        }
    }
    if let Some(why) = &verdict.inconclusive {
        let _ = writeln!(out, "  inconclusive: {why}");
    }
    let s = &verdict.load;
    let _ = writeln!(
        out,
        "  load  {:.1}/s sent of {:.1}/s · {} late · {} errors · p50 {:.1} ms · p99 {:.1} ms · max {:.1} ms",
        s.achieved_rate,
        s.target_rate,
        s.late_sends,
        s.failed + s.unknown,
        s.p50_ms,
        s.p99_ms,
        s.max_ms
    );
    if s.late_sends > 0 || s.unknown > 0 {
        let _ = writeln!(out, "        {}", LEGEND);
    }
    let _ = writeln!(out, "report: {}", report.display());
    out
}

/// A figure as a person reads it: whole numbers whole, shares to three places.
pub(super) fn number(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() < 10.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1}")
    }
}

/// At most `max` characters of a log line.
fn clip(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}
