//! Verdicts that explain themselves: beside each offending operation, the log lines its node
//! wrote around that time, so a failed check points at the cause and not only the symptom.
//!
//! Node logs are read from the run's directory (`<node>.log`). The kit's logger starts each
//! line with a UTC timestamp (`2026-12-01T19:51:09.123456Z`); a line without one (a panic
//! message, a backtrace) belongs with the timestamped line before it. What the harness did to
//! that node in the same moments (`harness: kill n1 at 2.500 s`) is merged in, in time order:
//! a killed node writes no line about its own death.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Span;
use crate::check::CheckResult;

/// How far before an operation was sent, and after it ended, its node's lines count.
pub const AROUND: Duration = Duration::from_secs(1);
/// At most this many lines beside each offender.
pub const MAX_LINES: usize = 8;

/// Fills each offender's `log` from its node's log in `dir` and the faults that hit that node.
/// `started` is the wall-clock time of the run's time zero (offenders' times count from it).
pub fn attach_logs(results: &mut [CheckResult], dir: &Path, started: SystemTime, faults: &[Span]) {
    let zero = started
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let mut logs: HashMap<String, Vec<(Option<f64>, String)>> = HashMap::new();
    for offender in results.iter_mut().flat_map(|r| r.offenders.iter_mut()) {
        let lines = logs.entry(offender.node.clone()).or_insert_with(|| {
            std::fs::read_to_string(dir.join(format!("{}.log", offender.node)))
                .map(|text| stamped(&text))
                .unwrap_or_default()
        });
        let from = offender.invoked_s - AROUND.as_secs_f64();
        let to = offender.completed_s.unwrap_or(offender.invoked_s + 1.0) + AROUND.as_secs_f64();
        let mut near: Vec<(f64, String)> = lines
            .iter()
            .filter_map(|(t, line)| t.map(|t| (t - zero, line.clone())))
            .filter(|(t, _)| *t >= from && *t <= to)
            .collect();
        for span in faults.iter().filter(|f| f.nodes.contains(&offender.node)) {
            let (start, end) = (span.start.as_secs_f64(), span.end.as_secs_f64());
            if (from..=to).contains(&start) {
                near.push((start, format!("harness: {} at {start:.3} s", span.label)));
            }
            if end > start && (from..=to).contains(&end) {
                near.push((end, format!("harness: {} ends at {end:.3} s", span.label)));
            }
        }
        // Stable: a node's lines keep their order, a harness event goes after lines of its time.
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        let skip = near.len().saturating_sub(MAX_LINES);
        offender.log = near.into_iter().skip(skip).map(|(_, line)| line).collect();
    }
}

/// Marks a negative control's verdict: `title` becomes `CONTROL (gives up ...): title`, and
/// every failed check says its loss was on purpose, what the control gives up being the
/// reason; the offenders stay listed, with their log lines, so the audience sees exactly what
/// the naive version lost. Returns the new title.
pub fn as_control(results: &mut [CheckResult], title: &str, gives_up: &str) -> String {
    for result in results.iter_mut().filter(|r| !r.passed) {
        result.detail = format!(
            "lost on purpose, by the control ({gives_up}): {}",
            result.detail
        );
    }
    let lost: Vec<&str> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.name.as_str())
        .collect();
    let verdict = if lost.is_empty() {
        "it lost nothing this time, so this run cannot tell it from the real thing".to_string()
    } else {
        format!("it fails {} on purpose", lost.join(", "))
    };
    format!("CONTROL ({gives_up}; {verdict}): {title}")
}

/// When one of `others` first logged that `node` is down, at or after `from` (since the
/// run's time zero, the wall-clock `started`): the detection time a run's logs show, read
/// from `<id>.log` in `dir`. A line counts when it has a timestamp, the word `down` and
/// `node`'s id as a word of its own (`peer is down ... peer=n1`).
pub fn seen_down(
    dir: &Path,
    started: SystemTime,
    node: &str,
    others: &[String],
    from: Duration,
) -> Option<Duration> {
    let zero = started.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    let names_it = |line: &str| {
        let words: Vec<&str> = line
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_')
            .collect();
        words.contains(&"down") && words.contains(&node)
    };
    others
        .iter()
        .filter(|id| id.as_str() != node)
        .filter_map(|id| std::fs::read_to_string(dir.join(format!("{id}.log"))).ok())
        .flat_map(|text| {
            text.lines()
                .filter(|line| names_it(line))
                .filter_map(|line| timestamp(line).map(|t| t - zero))
                .filter(|t| *t >= from.as_secs_f64())
                .collect::<Vec<f64>>()
        })
        .reduce(f64::min)
        .map(|t| Duration::from_secs_f64(t) - from)
}

/// Each line with the time it belongs to: its own timestamp, or the last one before it.
fn stamped(text: &str) -> Vec<(Option<f64>, String)> {
    let mut last = None;
    text.lines()
        .map(|line| {
            if let Some(t) = timestamp(line) {
                last = Some(t);
            }
            (last, line.to_string())
        })
        .collect()
}

/// Seconds since the epoch of a line that starts with an RFC 3339 UTC timestamp.
fn timestamp(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?;
    let stamp = stamp.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut date = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, d) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut time = time.split(':');
    let (h, min) = (
        time.next()?.parse::<i64>().ok()?,
        time.next()?.parse::<i64>().ok()?,
    );
    let s: f64 = time.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || min > 59 || s >= 61.0 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + s)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Bound, CheckResult, Offender};

    #[test]
    fn timestamps_are_read_as_the_kit_writes_them() {
        assert_eq!(timestamp("1970-01-01T00:00:00Z x"), Some(0.0));
        assert_eq!(
            timestamp("2026-12-01T19:51:09.500000Z  INFO node n1: ready"),
            Some(1_796_154_669.5)
        );
        assert_eq!(timestamp("thread 'main' panicked at src/main.rs:3"), None);
        assert_eq!(timestamp("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn a_control_is_listed_as_the_control_and_its_losses_are_on_purpose() {
        let lost = CheckResult::new("no lost acknowledged adds", 3.0, Bound::AtMost, 0.0)
            .detail("3 of 90 acknowledged adds lost".into());
        let fine = CheckResult::new("availability per 1 s", 0.6, Bound::AtLeast, 0.3);
        let mut results = vec![lost, fine];
        let title = as_control(
            &mut results,
            "failover-one-copy: the primary killed",
            "W = 1",
        );
        assert_eq!(
            title,
            "CONTROL (W = 1; it fails no lost acknowledged adds on purpose): failover-one-copy: the primary killed"
        );
        assert_eq!(
            results[0].detail,
            "lost on purpose, by the control (W = 1): 3 of 90 acknowledged adds lost"
        );
        assert_eq!(results[1].detail, "", "a check it passes is left alone");
        let mut none = vec![CheckResult::new(
            "no lost acknowledged adds",
            0.0,
            Bound::AtMost,
            0.0,
        )];
        assert!(as_control(&mut none, "t", "W = 1").contains("cannot tell it from the real thing"));
    }

    #[test]
    fn a_peer_logging_the_node_down_is_when_it_was_detected() {
        let dir = std::env::temp_dir().join(format!("lab-seen-down-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let n2 = "\
1970-01-01T00:00:03Z  WARN monitor: peer is down: silent peer=n1
1970-01-01T00:00:10.250Z  INFO monitor: peer is up peer=n1
1970-01-01T00:00:10.500Z  WARN monitor: peer is down: silent peer=n13
1970-01-01T00:00:10.750Z  WARN node: the failure detector says n1 is down: promoting myself
";
        std::fs::write(dir.join("n2.log"), n2).unwrap();
        std::fs::write(
            dir.join("n3.log"),
            "1970-01-01T00:00:10.900Z  WARN peer is down peer=n1\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("n1.log"),
            "1970-01-01T00:00:10.100Z  n1 is down, says n1\n",
        )
        .unwrap();
        let others = ["n1".to_string(), "n2".to_string(), "n3".to_string()];
        let seen = seen_down(&dir, UNIX_EPOCH, "n1", &others, Duration::from_secs(10));
        assert_eq!(
            seen,
            Some(Duration::from_millis(750)),
            "not before the fault, not n13, not the node itself"
        );
        assert_eq!(
            seen_down(&dir, UNIX_EPOCH, "n1", &others, Duration::from_secs(11)),
            None
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_offender_gets_its_nodes_lines_around_its_time() {
        let dir = std::env::temp_dir().join(format!("lab-explain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = "\
1970-01-01T00:00:01Z  INFO started
1970-01-01T00:00:09Z  INFO too early
1970-01-01T00:00:10.5Z  WARN disk slow
thread 'tokio' panicked at store.rs:12: not written
1970-01-01T00:00:20Z  INFO too late
";
        std::fs::write(dir.join("n2.log"), log).unwrap();
        let offender = Offender {
            op: 7,
            what: "add w7 to c1".into(),
            node: "n2".into(),
            invoked_s: 10.0,
            completed_s: Some(10.2),
            outcome: "ok".into(),
            why: "missing".into(),
            log: Vec::new(),
        };
        let mut results = vec![CheckResult {
            name: "no lost acknowledged adds".into(),
            passed: false,
            figure: 1.0,
            threshold: 0.0,
            bound: Bound::AtMost,
            unit: "adds".into(),
            detail: String::new(),
            offenders: vec![offender],
        }];
        let kill = Span {
            label: "kill n2".into(),
            start: Duration::from_millis(10_600),
            end: Duration::from_secs(15),
            nodes: vec!["n2".into()],
        };
        let elsewhere = Span {
            nodes: vec!["n3".into()],
            ..kill.clone()
        };
        attach_logs(&mut results, &dir, UNIX_EPOCH, &[kill, elsewhere]);
        let lines = &results[0].offenders[0].log;
        assert_eq!(
            lines,
            &[
                "1970-01-01T00:00:09Z  INFO too early".to_string(),
                "1970-01-01T00:00:10.5Z  WARN disk slow".to_string(),
                "thread 'tokio' panicked at store.rs:12: not written".to_string(),
                "harness: kill n2 at 10.600 s".to_string(),
            ],
            "one second either side, the panic line with its neighbour, the kill of this node"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
