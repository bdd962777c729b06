//! The page: `report.html`, one self-contained file (inline CSS and SVG, no script, no
//! network) with the verdict, the checks and their offenders, the plots and the faults.

use std::fmt::Write as _;

use super::chart::{Chart, Scale, Series};
use super::table::number;
use super::{Run, Span, Verdict};
use crate::check::CheckResult;
use crate::load::{LoadReport, WINDOW, Window};

pub(super) const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232b;
       max-width: 1160px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 6px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff;
         font-weight: 600; margin-right: 10px; vertical-align: 2px; font-size: 14px; }
.pass { background: #23863a; } .fail { background: #c62828; }
.inconclusive { background: #9a6700; } .inconclusive-why { color: #9a6700; }
pre.log { background: #f6f8fa; padding: 6px 10px; margin: 2px 0 10px; font-size: 12px;
          overflow-x: auto; }
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

pub(super) fn html(run: &Run, verdict: &Verdict, logs: &[String]) -> String {
    let s = &verdict.load;
    let mut page = String::new();
    let word = verdict.outcome.word();
    let class = match verdict.outcome {
        super::Outcome::Pass => "pass",
        super::Outcome::Fail => "fail",
        super::Outcome::Inconclusive => "inconclusive",
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
        "<p class=\"facts\">{seed}{mode} · {:.1}/s asked, {:.1}/s sent for {:.1} s · {} sent, {} ok, \
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
    let _ = writeln!(
        page,
        "<p class=\"facts\">{}.</p>",
        escape(super::table::LEGEND)
    );
    if let Some(why) = &verdict.inconclusive {
        let _ = writeln!(
            page,
            "<p class=\"inconclusive-why\"><b>Inconclusive:</b> {}. The checks passed, but a \
             fault that touched no operation proves nothing: send traffic to the node or link \
             it hits.</p>",
            escape(why)
        );
    }
    checks_table(&mut page, &verdict.checks);
    offenders(&mut page, &verdict.checks);

    plots(&mut page, run.load, run.faults, time_span(run));

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

/// The three plots (throughput, latency, errors) over `span` seconds with every fault
/// shaded: report.html's, and the live dashboard's (`cargo lab dashboard`).
pub(super) fn plots(page: &mut String, load: &LoadReport, faults: &[Span], span: f64) {
    let windows = &load.windows;
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
    *page += "<p class=\"facts\">The plots share one time axis: seconds since the run \
             started. Shaded: the faults. Sent counts each request in the second it was \
             scheduled; replies count in the second they came back.</p>\n";
    for chart in &charts {
        let _ = writeln!(page, "<h2>{}</h2>", chart.title);
        chart.svg(page, span, faults);
    }
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

/// Every failed check's offending operations, each with its node's log lines around it.
fn offenders(page: &mut String, checks: &[CheckResult]) {
    let failed: Vec<&CheckResult> = checks
        .iter()
        .filter(|c| !c.passed && !c.offenders.is_empty())
        .collect();
    if failed.is_empty() {
        return;
    }
    page.push_str("<h2>Offending operations</h2>\n");
    for c in failed {
        let _ = writeln!(page, "<h3>{}</h3>", escape(&c.name));
        page.push_str(
            "<table><tr><th>op</th><th>what</th><th>node</th><th>sent (s)</th>\
             <th>ended (s)</th><th>outcome</th><th>why</th></tr>\n",
        );
        for o in &c.offenders {
            let ended = o.completed_s.map(|t| format!("{t:.3}")).unwrap_or_default();
            let _ = writeln!(
                page,
                "<tr class=\"offender\" data-op=\"{}\"><td class=\"num\">{}</td><td>{}</td>\
                 <td>{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{ended}</td>\
                 <td>{}</td><td>{}</td></tr>",
                o.op,
                o.op,
                escape(&o.what),
                escape(&o.node),
                o.invoked_s,
                escape(&o.outcome),
                escape(&o.why)
            );
            if !o.log.is_empty() {
                let _ = writeln!(
                    page,
                    "<tr><td></td><td colspan=\"6\"><pre class=\"log\">{}</pre></td></tr>",
                    escape(&o.log.join("\n"))
                );
            }
        }
        page.push_str("</table>\n");
    }
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

pub(super) fn escape(text: &str) -> String {
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
