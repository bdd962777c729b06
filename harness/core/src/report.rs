//! Reports: what a run leaves behind, for a person and for a script.
//!
//! [`write`] fills a run's directory with:
//! - `verdict.json`: pass or fail, each check with its figure and threshold, the seed, the
//!   load's figures and the faults ([`Verdict`]);
//! - `history.jsonl`: every operation, one event per line ([`crate::history`]);
//! - `report.html`: one self-contained page (inline CSS and SVG, no script, no network) with
//!   the checks and three plots over the run's seconds: throughput, latency percentiles
//!   (log scale) and errors, each with a shaded rectangle exactly where each [`Fault`] was;
//!
//! and returns the short table the terminal shows. The node logs are already there (the
//! cluster writes them into the same directory); the page links every `*.log` it finds.
//!
//! The plots are built so a test can read them back: every chart's `<svg>` carries its axis
//! mapping (`data-x0`, `data-px-per-s`, `data-y0`, `data-height`, `data-y-min`,
//! `data-y-max`, `data-y-scale`), every point its series, window and value (`data-series`,
//! `data-t`, `data-v`), every fault rectangle its label and times (`data-label`,
//! `data-start`, `data-end`). A point sits at the middle of its one-second window.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::check::CheckResult;
use crate::history::History;
use crate::load::{LoadReport, Summary, WINDOW, Window};

/// Something the fault schedule did, from `start` to `end` since the run's start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    pub label: String,
    #[serde(serialize_with = "as_seconds")]
    pub start: Duration,
    #[serde(serialize_with = "as_seconds")]
    pub end: Duration,
}

impl<S: Into<String>> From<(S, Duration, Duration)> for Fault {
    fn from((label, start, end): (S, Duration, Duration)) -> Self {
        Fault {
            label: label.into(),
            start,
            end,
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
    pub faults: &'a [Fault],
}

/// `verdict.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// True when every check passed.
    pub passed: bool,
    pub title: String,
    pub seed: Option<u64>,
    pub checks: Vec<CheckResult>,
    pub load: Summary,
    pub faults: Vec<Fault>,
}

impl Run<'_> {
    pub fn verdict(&self) -> Verdict {
        Verdict {
            passed: self.checks.iter().all(|c| c.passed),
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
    fs::write(at("report.html"), html(run, &verdict, &logs)).map_err(fail(at("report.html")))?;
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

/// The terminal's summary: one line per check, the load in one line, the path.
pub fn table(verdict: &Verdict, report: &Path) -> String {
    let mut out = String::new();
    let word = if verdict.passed { "PASS" } else { "FAIL" };
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
    let _ = writeln!(out, "report: {}", report.display());
    out
}

/// A figure as a person reads it: whole numbers whole, shares to three places.
fn number(v: f64) -> String {
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

// ---------------------------------------------------------------------------------------
// The page.

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232b;
       max-width: 1160px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 6px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff;
         font-weight: 600; margin-right: 10px; vertical-align: 2px; font-size: 14px; }
.pass { background: #23863a; } .fail { background: #c62828; }
.facts { color: #57606a; margin: 4px 0 12px; }
table { border-collapse: collapse; width: 100%; } table.narrow { width: auto; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
th { color: #57606a; font-weight: 600; font-size: 12px; text-transform: uppercase; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.ok { color: #23863a; font-weight: 600; } td.bad { color: #c62828; font-weight: 600; }
svg.chart { display: block; margin: 4px 0 0; background: #fff; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #57606a; }
svg.chart .grid { stroke: #eceef1; } svg.chart .axis { stroke: #9aa3ad; }
svg.chart rect.fault { fill: #e53935; fill-opacity: 0.13; stroke: #e53935; stroke-opacity: 0.35; }
svg.chart text.fault { fill: #b71c1c; font-weight: 600; }
svg.chart polyline { fill: none; stroke-width: 1.8; stroke-linejoin: round; }
.files a { margin-right: 14px; }
"#;

fn html(run: &Run, verdict: &Verdict, logs: &[String]) -> String {
    let s = &verdict.load;
    let mut page = String::new();
    let (class, word) = if verdict.passed {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} · {word}</title><style>{STYLE}</style></head><body>\n\
         <h1><span class=\"badge {class}\">{word}</span>{title}</h1>\n",
        title = escape(run.title),
    );
    let seed = run.seed.map(|s| format!("seed {s} · ")).unwrap_or_default();
    let mode = match s.workers {
        Some(n) => format!("closed loop, {n} workers"),
        None => "open loop".into(),
    };
    let _ = writeln!(
        page,
        "<p class=\"facts\">{seed}{mode} · {:.1}/s asked, {:.1}/s sent for {} s · {} sent, {} ok, \
         {} failed, {} unknown · {} late sends, {} dropped · p50 {:.2} ms, p99 {:.1} ms, max {:.1} ms</p>",
        s.target_rate,
        s.achieved_rate,
        s.duration_s,
        s.sent,
        s.ok,
        s.failed,
        s.unknown,
        s.late_sends,
        s.dropped,
        s.p50_ms,
        s.p99_ms,
        s.max_ms
    );
    checks_table(&mut page, &verdict.checks);

    let span = time_span(run);
    let windows = &run.load.windows;
    let mid = |w: &Window| w.start.as_secs_f64() + WINDOW.as_secs_f64() / 2.0;
    let per_window = |f: &dyn Fn(&Window) -> f64| -> Vec<(f64, f64)> {
        windows.iter().map(|w| (mid(w), f(w))).collect()
    };
    let latency = |q: f64| -> Vec<(f64, f64)> {
        windows
            .iter()
            .filter(|w| !w.latency.is_empty())
            .map(|w| (mid(w), w.latency.value_at_quantile(q) as f64 / 1000.0))
            .collect()
    };
    let charts = [
        Chart {
            id: "throughput",
            title: "Throughput: requests per second",
            scale: Scale::Linear,
            series: vec![
                Series::new("sent", "#8c959f", per_window(&|w| w.sent as f64)).dashed(),
                Series::new("ok", "#1f6feb", per_window(&|w| w.ok as f64)),
            ],
        },
        Chart {
            id: "latency",
            title: "Latency of the replies in each second (ms, log scale)",
            scale: Scale::Log,
            series: vec![
                Series::new("p50", "#2da44e", latency(0.5)),
                Series::new("p99", "#d97706", latency(0.99)),
                Series::new("max", "#c62828", latency(1.0)),
            ],
        },
        Chart {
            id: "errors",
            title: "Errors per second",
            scale: Scale::Linear,
            series: vec![
                Series::new("failed", "#c62828", per_window(&|w| w.failed as f64)),
                Series::new("unknown", "#8250df", per_window(&|w| w.unknown as f64)),
            ],
        },
    ];
    page += "<p class=\"facts\">The plots share one time axis: seconds since the run \
             started. Shaded: the faults. Sent counts each request in the second it was \
             scheduled; replies count in the second they came back.</p>\n";
    for chart in &charts {
        let _ = writeln!(page, "<h2>{}</h2>", chart.title);
        chart.svg(&mut page, span, run.faults);
    }

    if !run.faults.is_empty() {
        page += "<h2>Faults</h2>\n<table class=\"narrow\"><tr><th>fault</th><th>from (s)</th><th>to (s)</th></tr>\n";
        for f in run.faults {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td></tr>",
                escape(&f.label),
                f.start.as_secs_f64(),
                f.end.as_secs_f64()
            );
        }
        page += "</table>\n";
    }
    page += "<h2>Files</h2>\n<p class=\"files\"><a href=\"verdict.json\">verdict.json</a>\
             <a href=\"history.jsonl\">history.jsonl</a>";
    for log in logs {
        let _ = write!(page, "<a href=\"{0}\">{0}</a>", escape(log));
    }
    page += "</p>\n</body></html>\n";
    page
}

fn checks_table(page: &mut String, checks: &[CheckResult]) {
    if checks.is_empty() {
        page.push_str("<p>No checks were run.</p>\n");
        return;
    }
    page.push_str(
        "<table><tr><th>check</th><th>result</th><th>figure</th><th>threshold</th><th>detail</th></tr>\n",
    );
    for c in checks {
        let (class, word) = if c.passed {
            ("ok", "pass")
        } else {
            ("bad", "fail")
        };
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"{class}\">{word}</td><td class=\"num\">{} {}</td>\
             <td class=\"num\">{} {}</td><td>{}</td></tr>",
            escape(&c.name),
            number(c.figure),
            escape(&c.unit),
            c.bound.symbol(),
            number(c.threshold),
            escape(&c.detail)
        );
    }
    page.push_str("</table>\n");
}

/// Seconds the plots span: the whole schedule, every reply and every fault.
fn time_span(run: &Run) -> f64 {
    let windows = run.load.windows.len() as f64 * WINDOW.as_secs_f64();
    let faults = run.faults.iter().map(|f| f.end.as_secs_f64());
    faults
        .chain([windows, run.load.duration.as_secs_f64()])
        .fold(1.0, f64::max)
        .ceil()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    Linear,
    Log,
}

struct Series {
    name: &'static str,
    color: &'static str,
    dashed: bool,
    /// (seconds since start, value)
    points: Vec<(f64, f64)>,
}

impl Series {
    fn new(name: &'static str, color: &'static str, points: Vec<(f64, f64)>) -> Self {
        Series {
            name,
            color,
            dashed: false,
            points,
        }
    }

    fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

struct Chart {
    id: &'static str,
    title: &'static str,
    scale: Scale,
    series: Vec<Series>,
}

// The drawing area inside each chart's SVG, in pixels.
const WIDTH: f64 = 1120.0;
const HEIGHT: f64 = 250.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 30.0;

/// Pixel coordinates with two decimals: what the SVG says, and what a test recomputes.
pub fn px(v: f64) -> String {
    format!("{v:.2}")
}

/// Where a value goes on a chart's axes; the test in this module uses the same mapping.
#[derive(Debug, Clone, Copy)]
struct Axes {
    px_per_s: f64,
    y_min: f64,
    y_max: f64,
    scale: Scale,
}

impl Axes {
    fn x(&self, t: f64) -> f64 {
        LEFT + t * self.px_per_s
    }

    fn y(&self, v: f64) -> f64 {
        let plot = HEIGHT - TOP - BOTTOM;
        let share = match self.scale {
            Scale::Linear => v / self.y_max,
            Scale::Log => {
                let v = v.max(self.y_min);
                (v.log10() - self.y_min.log10()) / (self.y_max.log10() - self.y_min.log10())
            }
        };
        HEIGHT - BOTTOM - share * plot
    }
}

impl Chart {
    fn axes(&self, span: f64) -> Axes {
        let values = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1));
        let max = values.clone().fold(0.0, f64::max);
        let (y_min, y_max) = match self.scale {
            // Four grid steps of a round size, whole numbers at least (these are counts).
            Scale::Linear => (0.0, 4.0 * nice_ceiling((max / 4.0).max(1.0))),
            Scale::Log => {
                let min = values.filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
                let min = if min.is_finite() { min } else { 0.1 };
                (
                    10f64.powf(min.log10().floor()),
                    10f64.powf(max.max(min * 10.0).log10().ceil()),
                )
            }
        };
        Axes {
            px_per_s: (WIDTH - LEFT - RIGHT) / span,
            y_min,
            y_max,
            scale: self.scale,
        }
    }

    fn svg(&self, out: &mut String, span: f64, faults: &[Fault]) {
        let a = self.axes(span);
        let scale = match a.scale {
            Scale::Linear => "linear",
            Scale::Log => "log",
        };
        let _ = writeln!(
            out,
            "<svg class=\"chart\" id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" \
             height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" data-x0=\"{LEFT}\" \
             data-px-per-s=\"{pps}\" data-y0=\"{y0}\" data-height=\"{h}\" data-y-min=\"{ymin}\" \
             data-y-max=\"{ymax}\" data-y-scale=\"{scale}\">",
            id = self.id,
            pps = a.px_per_s,
            y0 = HEIGHT - BOTTOM,
            h = HEIGHT - TOP - BOTTOM,
            ymin = a.y_min,
            ymax = a.y_max,
        );
        self.grid(out, &a, span);
        for f in faults {
            let (start, end) = (
                f.start.as_secs_f64(),
                f.end.as_secs_f64().max(f.start.as_secs_f64()),
            );
            let (x, x_end) = (a.x(start.min(span)), a.x(end.min(span)));
            let _ = writeln!(
                out,
                "<rect class=\"fault\" data-label=\"{label}\" data-start=\"{start}\" data-end=\"{end}\" \
                 x=\"{x}\" y=\"{TOP}\" width=\"{w}\" height=\"{h}\"><title>{label}: {start:.3}-{end:.3} s</title></rect>\
                 <text class=\"fault\" x=\"{tx}\" y=\"{ty}\">{label}</text>",
                label = escape(&f.label),
                x = px(x),
                w = px(x_end - x),
                h = HEIGHT - TOP - BOTTOM,
                tx = px(x + 4.0),
                ty = TOP + 13.0,
            );
        }
        for s in &self.series {
            self.draw(out, &a, s);
        }
        self.legend(out);
        out.push_str("</svg>\n");
    }

    fn grid(&self, out: &mut String, a: &Axes, span: f64) {
        let (left, right, bottom) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM);
        let ticks: Vec<f64> = match a.scale {
            Scale::Linear => (0..=4).map(|i| a.y_max * i as f64 / 4.0).collect(),
            Scale::Log => {
                let decades = (a.y_max / a.y_min).log10().round() as i32;
                (0..=decades).map(|d| a.y_min * 10f64.powi(d)).collect()
            }
        };
        for v in ticks {
            let y = px(a.y(v));
            let _ = writeln!(
                out,
                "<line class=\"grid\" x1=\"{left}\" x2=\"{right}\" y1=\"{y}\" y2=\"{y}\"/>\
                 <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                left - 6.0,
                a.y(v) + 4.0,
                tick_label(v)
            );
        }
        let step = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0]
            .into_iter()
            .find(|step| span / step <= 20.0)
            .unwrap_or(1200.0);
        let mut t = 0.0;
        while t <= span + 1e-9 {
            let x = px(a.x(t));
            let _ = writeln!(
                out,
                "<line class=\"grid\" x1=\"{x}\" x2=\"{x}\" y1=\"{TOP}\" y2=\"{bottom}\"/>\
                 <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{t}</text>",
                bottom + 16.0
            );
            t += step;
        }
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"{left}\" x2=\"{right}\" y1=\"{bottom}\" y2=\"{bottom}\"/>\
             <line class=\"axis\" x1=\"{left}\" x2=\"{left}\" y1=\"{TOP}\" y2=\"{bottom}\"/>"
        );
    }

    /// The series as a line through its points, broken where a window has no value (a
    /// latency window nobody was answered in), with a dot on each point.
    fn draw(&self, out: &mut String, a: &Axes, s: &Series) {
        let dash = if s.dashed {
            " stroke-dasharray=\"5 4\""
        } else {
            ""
        };
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        for &(t, v) in &s.points {
            match runs.last_mut() {
                Some(run) if run.last().is_some_and(|&(prev, _)| t - prev <= 1.0 + 1e-9) => {
                    run.push((t, v))
                }
                _ => runs.push(vec![(t, v)]),
            }
        }
        for run in runs {
            let points: Vec<String> = run
                .iter()
                .map(|&(t, v)| format!("{},{}", px(a.x(t)), px(a.y(v))))
                .collect();
            let _ = writeln!(
                out,
                "<polyline data-series=\"{}\" stroke=\"{}\"{dash} points=\"{}\"/>",
                s.name,
                s.color,
                points.join(" ")
            );
        }
        for &(t, v) in &s.points {
            let _ = writeln!(
                out,
                "<circle class=\"point\" data-series=\"{name}\" data-t=\"{t}\" data-v=\"{v}\" \
                 cx=\"{cx}\" cy=\"{cy}\" r=\"2.2\" fill=\"{color}\"><title>{name} {t:.1} s: {v}</title></circle>",
                name = s.name,
                color = s.color,
                cx = px(a.x(t)),
                cy = px(a.y(v)),
            );
        }
    }

    fn legend(&self, out: &mut String) {
        let mut x = WIDTH - RIGHT;
        for s in self.series.iter().rev() {
            x -= 14.0 + 7.0 * s.name.len() as f64 + 22.0;
            let _ = writeln!(
                out,
                "<line x1=\"{x}\" x2=\"{}\" y1=\"12\" y2=\"12\" stroke=\"{}\" stroke-width=\"2.5\"{}/>\
                 <text x=\"{}\" y=\"16\">{}</text>",
                x + 14.0,
                s.color,
                if s.dashed {
                    " stroke-dasharray=\"4 3\""
                } else {
                    ""
                },
                x + 19.0,
                s.name
            );
        }
    }
}

/// 1, 2 or 5 times a power of ten, at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * magnitude)
}

fn tick_label(v: f64) -> String {
    if v >= 1.0 || v == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.3}").trim_end_matches('0').to_string()
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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
        }];
        let faults: Vec<Fault> = vec![
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
}
