//! Reports: what a run leaves behind, for a person and for a script.
//!
//! [`write`] fills a run's directory with:
//! - `verdict.json`: pass, fail or inconclusive, each check with its figure, threshold and
//!   offending operations (with the log lines of their node around them), the seed, the
//!   load's figures and the faults ([`Verdict`]);
//! - `history.jsonl`: every operation, one event per line ([`crate::history`]);
//! - `report.html`: one self-contained page (inline CSS and SVG, no script, no network) with
//!   the checks and three plots over the run's seconds: throughput, latency percentiles
//!   (log scale) and errors, each with a shaded rectangle exactly where each fault [`Span`]
//!   was;
//!
//! and returns the short table the terminal shows. The node logs are already there (the
//! cluster writes them into the same directory); the page links every `*.log` it finds.
//!
//! The files, one idea each: `table` (the terminal's table), `html` (the page), `chart` (the
//! SVG plots), [`explain`] (the node's log lines beside each offending operation).
//!
//! The plots are built so a test can read them back: every chart's `<svg>` carries its axis
//! mapping (`data-x0`, `data-px-per-s`, `data-y0`, `data-height`, `data-y-min`,
//! `data-y-max`, `data-y-scale`), every point its series, window and value (`data-series`,
//! `data-t`, `data-v`), every fault rectangle its label and times (`data-label`,
//! `data-start`, `data-end`). A point sits at the middle of its one-second window.

use std::fs;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::check::CheckResult;
use crate::history::History;
use crate::load::{LoadReport, Summary};

mod chart;
pub mod explain;
mod html;
mod table;

pub use table::table;

/// The report's plots (throughput, latency, errors) over the first `span` seconds of `load`,
/// each of `faults` shaded, exactly as `report.html` draws them; for a live page of a run
/// that is still going (`cargo lab dashboard`). Style them with [`STYLE`].
pub fn plots(load: &LoadReport, faults: &[Span], span: f64) -> String {
    let mut out = String::new();
    html::plots(&mut out, load, faults, span.max(1.0).ceil());
    out
}

/// `report.html`'s style sheet, charts included.
pub const STYLE: &str = html::STYLE;

/// A labelled span of the run: what the fault schedule did, from `start` to `end` since the
/// run's start, and the nodes whose traffic it touched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    pub label: String,
    #[serde(serialize_with = "as_seconds")]
    pub start: Duration,
    #[serde(serialize_with = "as_seconds")]
    pub end: Duration,
    /// The nodes hit (both ends of a link, every node of a partition).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

impl<S: Into<String>> From<(S, Duration, Duration)> for Span {
    fn from((label, start, end): (S, Duration, Duration)) -> Self {
        Span {
            label: label.into(),
            start,
            end,
            nodes: Vec::new(),
        }
    }
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Everything a report shows, on one time axis (the run's start).
pub struct Run<'a> {
    /// What ran, in a few words (`kill the primary under load`).
    pub title: &'a str,
    /// The seed every random choice came from, to replay the run.
    pub seed: Option<u64>,
    pub load: &'a LoadReport,
    pub history: &'a History,
    pub checks: &'a [CheckResult],
    pub faults: &'a [Span],
    /// Why the run proves nothing even if every check passed (a fault that touched no
    /// operation), or `None`.
    pub inconclusive: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    /// The checks passed, but the faults touched nothing: the run proves nothing.
    Inconclusive,
}

impl Outcome {
    /// The word a table and a page print.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// `verdict.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    /// True only for [`Outcome::Pass`].
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inconclusive: Option<String>,
    pub title: String,
    pub seed: Option<u64>,
    pub checks: Vec<CheckResult>,
    pub load: Summary,
    pub faults: Vec<Span>,
}

impl Run<'_> {
    pub fn verdict(&self) -> Verdict {
        let checks_passed = self.checks.iter().all(|c| c.passed);
        let outcome = match (checks_passed, &self.inconclusive) {
            (false, _) => Outcome::Fail,
            (true, Some(_)) => Outcome::Inconclusive,
            (true, None) => Outcome::Pass,
        };
        Verdict {
            outcome,
            passed: outcome == Outcome::Pass,
            inconclusive: self.inconclusive.clone(),
            title: self.title.to_string(),
            seed: self.seed,
            checks: self.checks.to_vec(),
            load: self.load.summary(),
            faults: self.faults.to_vec(),
        }
    }
}

/// A report that could not be written, and where.
#[derive(Debug)]
pub struct ReportError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot write the report file {}: {}",
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Writes the run's directory (created if needed) and returns the terminal's table.
pub fn write(dir: &Path, run: &Run) -> Result<String, ReportError> {
    let at = |name: &str| dir.join(name);
    let fail = |path: PathBuf| move |source| ReportError { path, source };
    fs::create_dir_all(dir).map_err(fail(dir.to_path_buf()))?;

    let verdict = run.verdict();
    let json = serde_json::to_string_pretty(&verdict).map_err(io::Error::other);
    fs::write(at("verdict.json"), json.map_err(fail(at("verdict.json")))?)
        .map_err(fail(at("verdict.json")))?;

    let history = fs::File::create(at("history.jsonl")).map_err(fail(at("history.jsonl")))?;
    run.history
        .write_jsonl(BufWriter::new(history))
        .map_err(fail(at("history.jsonl")))?;

    let logs = log_files(dir);
    fs::write(at("report.html"), html::html(run, &verdict, &logs))
        .map_err(fail(at("report.html")))?;
    Ok(table(&verdict, &at("report.html")))
}

/// The node logs in the run's directory, as paths relative to it.
fn log_files(dir: &Path) -> Vec<String> {
    let mut logs = Vec::new();
    for sub in ["", "logs"] {
        let Ok(entries) = fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".log") {
                logs.push(if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                });
            }
        }
    }
    logs.sort();
    logs
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::chart::{nice_ceiling, px, tick_label};
    use super::table::number;
    use super::*;
    use crate::check::{Bound, CheckResult};
    use crate::history::Action;
    use crate::load::{Mode, Record, record_us};

    /// A ten-second run at 100/s with the server stalled in seconds 4 and 5: no replies then,
    /// the backlog in second 6, and timeouts in second 5.
    fn stalled_run() -> LoadReport {
        let mut record = Record::default();
        for s in 0..10u32 {
            let w = record.window(Duration::from_secs(s.into()));
            w.sent = 100;
            match s {
                4 => {}
                5 => w.unknown = 20,
                6 => {
                    w.ok = 180;
                    for i in 0..180 {
                        record_us(&mut w.latency, 1_000 + i * 5_000);
                    }
                }
                _ => {
                    w.ok = 100;
                    for i in 0..100 {
                        record_us(&mut w.latency, 2_000 + i * 10);
                    }
                }
            }
        }
        record.sent = 1000;
        record.ok = 880;
        LoadReport {
            mode: Mode::Open,
            duration: Duration::from_secs(10),
            elapsed: Duration::from_secs(10),
            scheduled: 1000,
            dropped: 0,
            record,
        }
    }

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lab-report-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// The attributes of every `<tag ...>` in the page, in order.
    fn elements(page: &str, tag: &str) -> Vec<HashMap<String, String>> {
        let open = format!("<{tag} ");
        page.split(&open)
            .skip(1)
            .map(|rest| {
                let head = &rest[..rest.find('>').unwrap()];
                let mut attrs = HashMap::new();
                for part in head.split("\" ") {
                    if let Some((k, v)) = part.split_once("=\"") {
                        attrs.insert(
                            k.trim().to_string(),
                            v.trim_end_matches(['"', '/']).to_string(),
                        );
                    }
                }
                attrs
            })
            .collect()
    }

    fn f(attrs: &HashMap<String, String>, key: &str) -> f64 {
        attrs[key]
            .parse()
            .unwrap_or_else(|_| panic!("{key}={} is no number", attrs[key]))
    }

    #[test]
    fn a_report_draws_every_point_and_every_fault_where_they_belong() {
        let load = stalled_run();
        let history = History::new();
        history
            .invoke(
                "n1",
                Action::Add {
                    key: "c1".into(),
                    item: "r1".into(),
                },
            )
            .ok();
        let checks = [CheckResult {
            name: "availability per 1 s".into(),
            passed: false,
            figure: 0.0,
            threshold: 0.9,
            bound: Bound::AtLeast,
            unit: "share".into(),
            detail: "worst window 4.0-5.0 s: 0 of 100 operations succeeded".into(),
            offenders: vec![],
        }];
        let faults: Vec<Span> = vec![
            (
                "pause n1",
                Duration::from_millis(4000),
                Duration::from_millis(6000),
            )
                .into(),
            (
                "cut n2->n3 <one-way>",
                Duration::from_millis(7500),
                Duration::from_millis(8250),
            )
                .into(),
        ];
        let dir = scratch_dir("points");
        fs::create_dir_all(dir.join("logs")).unwrap();
        fs::write(dir.join("logs/n1.log"), "hello\n").unwrap();
        let run = Run {
            title: "pause under load",
            seed: Some(42),
            load: &load,
            history: &history,
            checks: &checks,
            faults: &faults,
            inconclusive: None,
        };
        let table = write(&dir, &run).unwrap();

        assert!(
            table.starts_with("FAIL  pause under load (seed 42)\n"),
            "{table}"
        );
        assert!(
            table.contains("availability per 1 s") && table.contains("≥ 0.900"),
            "{table}"
        );
        assert!(table.ends_with(&format!("report: {}\n", dir.join("report.html").display())));
        assert!(
            !table.contains("unknown: no answer"),
            "nothing late or unknown, no legend: {table}"
        );

        let verdict: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("verdict.json")).unwrap()).unwrap();
        assert_eq!(verdict["passed"], false);
        assert_eq!(verdict["seed"], 42);
        assert_eq!(verdict["checks"][0]["threshold"], 0.9);
        assert_eq!(verdict["faults"][1]["end"], 8.25);
        assert_eq!(verdict["load"]["sent"], 1000);
        let history_back = History::read_jsonl(&fs::read(dir.join("history.jsonl")).unwrap()[..]);
        assert_eq!(history_back.unwrap().events(), history.events());

        let page = fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(
            !page.contains("<script") && !page.contains("https://"),
            "self-contained"
        );
        assert!(page.contains("href=\"logs/n1.log\""));

        let charts = elements(&page, "svg");
        assert_eq!(charts.len(), 3);
        let sections: Vec<&str> = page.split("<svg ").skip(1).collect();
        for (chart, section) in charts.iter().zip(&sections) {
            let (x0, pps) = (f(chart, "data-x0"), f(chart, "data-px-per-s"));
            let (y0, h) = (f(chart, "data-y0"), f(chart, "data-height"));
            let (lo, hi) = (f(chart, "data-y-min"), f(chart, "data-y-max"));
            let y = |v: f64| match chart["data-y-scale"].as_str() {
                "log" => y0 - (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) * h,
                _ => y0 - v / hi * h,
            };
            let id = &chart["id"];

            // Faults: exactly where the schedule put them, on every chart.
            let rects = elements(section, "rect");
            assert_eq!(rects.len(), 2, "{id}");
            for (rect, fault) in rects.iter().zip(&faults) {
                let (start, end) = (fault.start.as_secs_f64(), fault.end.as_secs_f64());
                assert_eq!(f(rect, "data-start"), start);
                assert_eq!(f(rect, "data-end"), end);
                assert_eq!(rect["x"], px(x0 + start * pps), "{id} {fault:?}");
                assert_eq!(
                    rect["width"],
                    px((x0 + end * pps) - (x0 + start * pps)),
                    "{id}"
                );
            }
            assert_eq!(rects[1]["data-label"], "cut n2-&gt;n3 &lt;one-way&gt;");

            // Points: one per window and series, at the window's middle, at its value.
            let points = elements(section, "circle");
            let expected: Vec<(&str, f64, f64)> = match id.as_str() {
                "throughput" => load
                    .windows
                    .iter()
                    .flat_map(|w| {
                        let t = w.start.as_secs_f64() + 0.5;
                        [("sent", t, w.sent as f64), ("ok", t, w.ok as f64)]
                    })
                    .collect(),
                "errors" => load
                    .windows
                    .iter()
                    .flat_map(|w| {
                        let t = w.start.as_secs_f64() + 0.5;
                        [
                            ("failed", t, w.failed as f64),
                            ("unknown", t, w.unknown as f64),
                        ]
                    })
                    .collect(),
                _ => load
                    .windows
                    .iter()
                    .filter(|w| !w.latency.is_empty())
                    .flat_map(|w| {
                        let t = w.start.as_secs_f64() + 0.5;
                        let ms = |q| w.latency.value_at_quantile(q) as f64 / 1000.0;
                        [
                            ("p50", t, ms(0.5)),
                            ("p99", t, ms(0.99)),
                            ("max", t, ms(1.0)),
                        ]
                    })
                    .collect(),
            };
            let mut seen: Vec<(&str, f64, f64)> = points
                .iter()
                .map(|p| (p["data-series"].as_str(), f(p, "data-t"), f(p, "data-v")))
                .collect();
            let mut want = expected.clone();
            let order =
                |a: &(&str, f64, f64), b: &(&str, f64, f64)| a.0.cmp(b.0).then(a.1.total_cmp(&b.1));
            seen.sort_by(order);
            want.sort_by(order);
            assert_eq!(seen, want, "{id}");
            for p in &points {
                assert_eq!(p["cx"], px(x0 + f(p, "data-t") * pps), "{id} {p:?}");
                assert_eq!(p["cy"], px(y(f(p, "data-v"))), "{id} {p:?}");
            }
        }

        // The stall is visible: no latency point in second 4, throughput 0 there.
        let latency_ts: Vec<f64> = elements(sections[1], "circle")
            .iter()
            .map(|p| f(p, "data-t"))
            .collect();
        assert!(!latency_ts.contains(&4.5) && !latency_ts.contains(&5.5));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_run_without_checks_passes_and_says_it_checked_nothing() {
        let load = stalled_run();
        let history = History::new();
        let run = Run {
            title: "plain load",
            seed: None,
            load: &load,
            history: &history,
            checks: &[],
            faults: &[],
            inconclusive: None,
        };
        let dir = scratch_dir("empty");
        let table = write(&dir, &run).unwrap();
        assert!(table.starts_with("PASS  plain load\n"), "{table}");
        let page = fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(page.contains("No checks were run."));
        assert!(elements(&page, "rect").is_empty());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn figures_and_ticks_read_well() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(0.9), "0.900");
        assert_eq!(number(1234.56), "1234.6");
        assert_eq!(number(f64::NAN), "n/a");
        assert_eq!(nice_ceiling(180.0), 200.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
        assert_eq!(nice_ceiling(21.0), 25.0);
        assert_eq!(tick_label(0.01), "0.01");
    }

    #[test]
    fn a_failed_check_names_its_offenders_with_their_log_lines_everywhere() {
        let history = History::new();
        history
            .invoke(
                "n1",
                Action::Add {
                    key: "c3".into(),
                    item: "w9".into(),
                },
            )
            .unknown("timeout");
        let load = LoadReport::from_history(&history, 1);
        let offender = crate::check::Offender {
            op: 412,
            what: "add w412 to c3".into(),
            node: "n1".into(),
            invoked_s: 2.481,
            completed_s: Some(2.483),
            outcome: "ok".into(),
            why: "acknowledged, missing from the final read of c3".into(),
            log: vec!["2026-12-01T10:00:02Z  INFO acked from memory".into()],
        };
        let checks = [CheckResult {
            name: "no lost acknowledged adds".into(),
            passed: false,
            figure: 1.0,
            threshold: 0.0,
            bound: Bound::AtMost,
            unit: "adds".into(),
            detail: "1 of 300 acknowledged adds lost".into(),
            offenders: vec![offender],
        }];
        let run = Run {
            title: "kill-restart",
            seed: Some(7),
            load: &load,
            history: &history,
            checks: &checks,
            faults: &[],
            inconclusive: None,
        };
        let dir = scratch_dir("offenders");
        let table = write(&dir, &run).unwrap();
        assert!(
            table.contains("op 412 add w412 to c3 on n1, sent 2.481 s, ok at 2.483 s"),
            "{table}"
        );
        assert!(
            table.contains("| n1: 2026-12-01T10:00:02Z  INFO acked from memory"),
            "{table}"
        );
        assert!(
            table.contains("unknown: no answer"),
            "a run with unknown outcomes says what they are: {table}"
        );
        let verdict: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("verdict.json")).unwrap()).unwrap();
        let named = &verdict["checks"][0]["offenders"][0];
        assert_eq!(named["op"], 412);
        assert_eq!(named["node"], "n1");
        assert_eq!(
            named["log"][0],
            "2026-12-01T10:00:02Z  INFO acked from memory"
        );
        let page = fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(
            page.contains("<tr class=\"offender\" data-op=\"412\">"),
            "the page lists it"
        );
        assert!(page.contains("acked from memory"), "with its log line");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_run_whose_faults_touched_nothing_is_inconclusive_not_a_pass() {
        let load = stalled_run();
        let history = History::new();
        let why =
            "kill n3 (2.0-4.0 s) touched no operation: nothing was sent to n3 while it lasted";
        let run = Run {
            title: "idle fault",
            seed: Some(1),
            load: &load,
            history: &history,
            checks: &[],
            faults: &[],
            inconclusive: Some(why.into()),
        };
        let verdict = run.verdict();
        assert_eq!(verdict.outcome, Outcome::Inconclusive);
        assert!(!verdict.passed);
        let dir = scratch_dir("inconclusive");
        let table = write(&dir, &run).unwrap();
        assert!(
            table.starts_with("INCONCLUSIVE  idle fault (seed 1)\n"),
            "{table}"
        );
        assert!(table.contains(&format!("inconclusive: {why}")), "{table}");
        let json = fs::read_to_string(dir.join("verdict.json")).unwrap();
        assert!(json.contains("\"outcome\": \"inconclusive\""), "{json}");
        let _ = fs::remove_dir_all(&dir);
    }
}
