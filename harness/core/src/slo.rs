//! SLO thresholds, k6-style: `p99 < 250ms`, `error_rate < 1%`, `availability > 99%`,
//! `goodput > 0.95 capacity`, `goodput > 180/s`. A run whose figures break one fails.
//!
//! One parser for scenario files (`[slo]`'s `thresholds = [...]`, see [`crate::scenario`]) and
//! `lab load --threshold`, so a threshold means the same thing in both. Each threshold, held
//! to a run's [`Figures`], gives a [`CheckResult`]: a broken one is a failed check like any
//! other, in the verdict, the report and the exit code, and its detail names the figure, the
//! bound and what was measured ("p99 was 412 ms, the threshold is < 250ms").
//!
//! The syntax, `figure op bound`, spaces optional:
//!
//! | figure | what it measures | bounds |
//! | --- | --- | --- |
//! | `p50`, `p90`, `p99`, `p99.9`, any `pNN`; `max` | that latency percentile of every request, whatever its outcome, as the load's headline gives it (open loop, as scenarios run: from its intended send time) | a time: `250ms`, `1.5s` |
//! | `error_rate` | requests sent that did not end ok (failed or unknown), of all sent | `1%` or `0.01` |
//! | `availability` | requests sent that ended ok, of all sent | `99%` or `0.99` |
//! | `goodput` | ok answers per second of the load phase | `180/s`, `0.95 capacity` (needs the capacity declared) |
//! | `goodput(150ms)` | ok answers within 150 ms, per second: answers in time to be of use | the same |
//!
//! `op` is one of `<`, `<=`, `>`, `>=` (or `≤`, `≥`, as verdict tables print them). A bound
//! nothing can meet (`p99 < 0ms`, `availability > 100%`) is refused as a typo.
//!
//! Latencies are read from the load's HDR histograms (three significant digits), which round
//! a percentile up by at most 0.1%: an upper bound is never met by rounding.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::check::{Bound, CheckResult};
use crate::load::{self, LoadReport};

/// One threshold, as parsed: `figure op limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub figure: Figure,
    pub op: Op,
    pub limit: Limit,
    /// The threshold as written, spaces tidied: how verdicts name it.
    text: String,
    /// Its comparison and bound as written: `< 250ms`.
    bound: String,
}

/// What a threshold holds to its bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    /// A latency percentile (`p99` is 99.0, `max` is 100.0).
    Latency { p: f64 },
    /// Sent requests that did not end ok, as a share of those sent.
    ErrorRate,
    /// Sent requests that ended ok, as a share of those sent.
    Availability,
    /// Ok answers per second of the load phase; `within`: only those that came that fast.
    Goodput { within: Option<Duration> },
}

/// The comparison; `<` and `>` are strict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Below,
    AtMost,
    Above,
    AtLeast,
}

/// A threshold's bound, in the kind its figure needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Time(Duration),
    /// A share from 0 to 1 (`1%` is 0.01).
    Share(f64),
    /// Per second.
    Rate(f64),
    /// A share of the declared capacity (`0.95 capacity`).
    OfCapacity(f64),
}

/// A set of thresholds and the capacity (per second) that `... capacity` bounds refer to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slo {
    pub thresholds: Vec<Threshold>,
    pub capacity: Option<f64>,
}

/// What a threshold is held to: a run's figures. [`From`] a [`LoadReport`], or made up.
#[derive(Debug, Clone, Copy)]
pub struct Figures<'a> {
    /// Requests that went out.
    pub sent: u64,
    /// Of those, the ones that ended ok.
    pub ok: u64,
    /// The load phase, which goodput divides by.
    pub over: Duration,
    /// Every request's latency, µs.
    pub latency: &'a Histogram<u64>,
    /// The ok requests' latencies, µs (`None`: no request ended ok).
    pub ok_latency: Option<&'a Histogram<u64>>,
}

impl<'a> From<&'a LoadReport> for Figures<'a> {
    fn from(report: &'a LoadReport) -> Self {
        Figures {
            sent: report.sent,
            ok: report.ok,
            over: report.duration,
            latency: &report.latency,
            ok_latency: report.latency_of(load::OK),
        }
    }
}

/// What a threshold accepts, for messages.
const SYNTAX: &str = "write it as figure, comparison, bound: \"p99 < 250ms\", \
                      \"error_rate < 1%\", \"availability > 99%\", \"goodput > 180/s\" or \
                      \"goodput > 0.95 capacity\"";
const FIGURES: &str =
    "p50, p90, p99, p99.9 (any pNN), max, error_rate, availability, goodput or goodput(150ms)";

impl Threshold {
    /// Parses `p99 < 250ms` and the other forms in the module's table.
    ///
    /// ```
    /// use harness::slo::Threshold;
    /// assert_eq!(Threshold::parse("p99<250ms").unwrap().to_string(), "p99 < 250ms");
    /// assert!(Threshold::parse("p99 < 250").unwrap_err().contains("add a unit"));
    /// ```
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let bad = |why: String| format!("threshold {:?}: {why}", text.trim());
        // The verdict table prints ≤ and ≥: a threshold copied from it means the same.
        let ascii = text.replace('≤', "<=").replace('≥', ">=");
        let Some((at, op, width)) = find_op(&ascii) else {
            return Err(bad(format!("no comparison (<, <=, > or >=); {SYNTAX}")));
        };
        let (left, right) = (ascii[..at].trim(), ascii[at + width..].trim());
        let figure = figure(left).map_err(bad)?;
        if right.is_empty() {
            return Err(bad(format!("nothing after {}; {SYNTAX}", op.symbol())));
        }
        let limit = match figure {
            Figure::Latency { .. } => Limit::Time(crate::duration::parse(right).map_err(bad)?),
            Figure::ErrorRate | Figure::Availability => {
                Limit::Share(share(right).map_err(|why| bad(format!("{left} is {why}")))?)
            }
            Figure::Goodput { .. } => rate(right).map_err(bad)?,
        };
        if never_holds(op, limit) {
            return Err(bad(format!(
                "no run can meet {} {right}; did you mean {}?",
                op.symbol(),
                op.or_equal().symbol()
            )));
        }
        let tidy = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let bound = format!("{} {}", op.symbol(), tidy(right));
        Ok(Threshold {
            figure,
            op,
            limit,
            text: format!("{} {bound}", tidy(left)),
            bound,
        })
    }

    /// Whether the bound is a share of the capacity, which must then be declared.
    pub fn needs_capacity(&self) -> bool {
        matches!(self.limit, Limit::OfCapacity(_))
    }

    /// Holds `figures` to this threshold; `capacity` (per second) resolves `... capacity`.
    pub fn check(&self, figures: &Figures, capacity: Option<f64>) -> CheckResult {
        let (measured, unit, count) = match self.figure {
            Figure::Latency { p } => {
                let us = if figures.latency.is_empty() {
                    f64::NAN
                } else {
                    figures.latency.value_at_quantile(p / 100.0) as f64
                };
                (us / 1000.0, "ms", None)
            }
            Figure::ErrorRate => {
                let errors = figures.sent.saturating_sub(figures.ok);
                (share_of(errors, figures.sent), "%", Some(errors))
            }
            Figure::Availability => (share_of(figures.ok, figures.sent), "%", Some(figures.ok)),
            Figure::Goodput { within } => {
                let good = match (within, figures.ok_latency) {
                    (None, _) => figures.ok,
                    (Some(_), None) => 0,
                    (Some(t), Some(h)) => h.count_between(0, micros(t)),
                };
                (good as f64 / figures.over.as_secs_f64(), "/s", None)
            }
        };
        let bound = match self.limit {
            Limit::Time(t) => t.as_secs_f64() * 1000.0,
            Limit::Share(s) => s * 100.0,
            Limit::Rate(r) => r,
            Limit::OfCapacity(share) => capacity.map_or(f64::NAN, |c| share * c),
        };
        let passed = self.op.holds(measured, bound);
        let name = self.figure.name();
        let was = match (self.figure, count) {
            _ if measured.is_nan() => "not measured (no request was sent)".to_string(),
            (_, Some(n)) => format!("{}% ({n} of {} sent)", number(measured), figures.sent),
            (Figure::Latency { .. }, None) => format!("{} ms", number(measured)),
            _ => format!("{}/s", number(measured)),
        };
        let held_to = match self.limit {
            Limit::OfCapacity(_) => match capacity {
                Some(_) => format!(" ({}/s)", number(bound)),
                None => " (no capacity declared)".to_string(),
            },
            _ => String::new(),
        };
        let detail = if passed {
            format!("{name} was {was}, within {}{held_to}", self.bound)
        } else {
            format!("{name} was {was}, the threshold is {}{held_to}", self.bound)
        };
        let mut result =
            CheckResult::new(format!("threshold {self}"), measured, self.op.side(), bound)
                .unit(unit)
                .detail(detail);
        // `CheckResult::new` compares with `<=` or `>=`; a strict `<` or `>` decides here.
        result.passed = passed;
        result
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Figure {
    /// How a detail names the figure.
    fn name(self) -> String {
        match self {
            Figure::Latency { p: 100.0 } => "max".to_string(),
            Figure::Latency { p } => format!("p{p}"),
            Figure::ErrorRate => "error_rate".to_string(),
            Figure::Availability => "availability".to_string(),
            Figure::Goodput { within: None } => "goodput".to_string(),
            Figure::Goodput { within: Some(t) } => {
                format!("goodput within {} ms", number(t.as_secs_f64() * 1000.0))
            }
        }
    }
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Below => "<",
            Op::AtMost => "<=",
            Op::Above => ">",
            Op::AtLeast => ">=",
        }
    }

    /// Whether `figure op bound`. A figure at its bound within rounding (`0.95 * 200` is
    /// not quite 190 in floating point) is at it, so `>=` holds there and `>` does not.
    fn holds(self, figure: f64, bound: f64) -> bool {
        let at = (figure - bound).abs() <= 1e-9 * figure.abs().max(bound.abs());
        match self {
            Op::Below => figure < bound && !at,
            Op::AtMost => figure <= bound || at,
            Op::Above => figure > bound && !at,
            Op::AtLeast => figure >= bound || at,
        }
    }

    /// The side a verdict's table shows.
    fn side(self) -> Bound {
        match self {
            Op::Below | Op::AtMost => Bound::AtMost,
            Op::Above | Op::AtLeast => Bound::AtLeast,
        }
    }

    fn or_equal(self) -> Op {
        match self {
            Op::Below => Op::AtMost,
            Op::Above => Op::AtLeast,
            other => other,
        }
    }
}

impl Slo {
    /// Thresholds with the capacity their `... capacity` bounds need.
    pub fn new(thresholds: Vec<Threshold>, capacity: Option<f64>) -> Result<Slo, SloError> {
        if let Some(c) = capacity
            && !(c.is_finite() && c > 0.0)
        {
            return Err(SloError::BadCapacity(c));
        }
        if capacity.is_none()
            && let Some(i) = thresholds.iter().position(Threshold::needs_capacity)
        {
            return Err(SloError::NoCapacity {
                index: i,
                threshold: thresholds[i].to_string(),
            });
        }
        for (i, t) in thresholds.iter().enumerate() {
            if thresholds[..i].contains(t) {
                return Err(SloError::Twice {
                    index: i,
                    threshold: t.to_string(),
                });
            }
        }
        Ok(Slo {
            thresholds,
            capacity,
        })
    }

    /// `lab load`'s `--threshold` flags (each as written) and its `--capacity`, or the one
    /// line that says which flag is wrong and what it takes.
    pub fn from_flags(thresholds: &[String], capacity: Option<&str>) -> Result<Slo, String> {
        let capacity = match capacity {
            None => None,
            Some(text) => match text.trim().trim_end_matches("/s").parse::<f64>() {
                Ok(c) if c.is_finite() && c > 0.0 => Some(c),
                _ => {
                    return Err(format!(
                        "--capacity must be requests per second above 0, such as 200 (got {text:?})"
                    ));
                }
            },
        };
        let parsed = thresholds
            .iter()
            .map(|t| Threshold::parse(t).map_err(|why| format!("bad --threshold: {why}")))
            .collect::<Result<Vec<_>, _>>()?;
        Slo::new(parsed, capacity).map_err(|e| match e {
            SloError::NoCapacity { threshold, .. } => format!(
                "bad --threshold {threshold:?}: a share of the capacity needs --capacity \
                 <requests per second>"
            ),
            other => format!("bad --threshold: {other}"),
        })
    }

    /// Every threshold held to `figures`, in order.
    pub fn check(&self, figures: &Figures) -> Vec<CheckResult> {
        self.thresholds
            .iter()
            .map(|t| t.check(figures, self.capacity))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.thresholds.is_empty()
    }
}

/// Why a set of thresholds cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum SloError {
    /// A capacity that is not a positive rate.
    BadCapacity(f64),
    /// The threshold at `index` is a share of a capacity nobody declared.
    NoCapacity { index: usize, threshold: String },
    /// The threshold at `index` repeats an earlier one.
    Twice { index: usize, threshold: String },
}

impl SloError {
    /// The threshold at fault, if it is one (not the capacity).
    pub fn index(&self) -> Option<usize> {
        match self {
            SloError::BadCapacity(_) => None,
            SloError::NoCapacity { index, .. } | SloError::Twice { index, .. } => Some(*index),
        }
    }
}

impl fmt::Display for SloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SloError::BadCapacity(c) => {
                write!(f, "capacity = {c}: requests per second, more than 0")
            }
            SloError::NoCapacity { threshold, .. } => write!(
                f,
                "threshold \"{threshold}\" is a share of the capacity, and no capacity is declared"
            ),
            SloError::Twice { threshold, .. } => {
                write!(f, "threshold \"{threshold}\" is listed twice")
            }
        }
    }
}

/// Each result on a line, `ok` or `FAIL` with what was measured and the bound: what
/// `lab load` prints under its table.
pub fn lines(results: &[CheckResult]) -> String {
    let width = results
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    results
        .iter()
        .map(|r| {
            let mark = if r.passed { "ok  " } else { "FAIL" };
            format!("  {mark}  {:width$}  {}\n", r.name, r.detail)
        })
        .collect()
}

/// The first comparison in `text`: where it starts, what it is and how many bytes it takes.
fn find_op(text: &str) -> Option<(usize, Op, usize)> {
    let at = text.find(['<', '>'])?;
    let rest = &text[at..];
    Some(match (rest.starts_with('<'), rest[1..].starts_with('=')) {
        (true, true) => (at, Op::AtMost, 2),
        (true, false) => (at, Op::Below, 1),
        (false, true) => (at, Op::AtLeast, 2),
        (false, false) => (at, Op::Above, 1),
    })
}

fn figure(name: &str) -> Result<Figure, String> {
    let unknown = || format!("unknown figure {name:?}; use {FIGURES}");
    match name {
        "error_rate" => return Ok(Figure::ErrorRate),
        "availability" => return Ok(Figure::Availability),
        "goodput" => return Ok(Figure::Goodput { within: None }),
        "max" => return Ok(Figure::Latency { p: 100.0 }),
        _ => {}
    }
    if let Some(inner) = name
        .strip_prefix("goodput(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let within = crate::duration::parse_positive("goodput(...)", inner)
            .map_err(|why| format!("goodput(time): {why}"))?;
        return Ok(Figure::Goodput {
            within: Some(within),
        });
    }
    let digits = name.strip_prefix('p').ok_or_else(unknown)?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(unknown());
    }
    match digits.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(Figure::Latency { p }),
        _ => Err(format!(
            "{name}: a percentile above 0, at most 100 (p99.9 for the 99.9th, max for the largest)"
        )),
    }
}

/// `1%`, `99.5%` or a plain share `0.01`.
fn share(text: &str) -> Result<f64, String> {
    let (number, scale) = match text.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (text, 1.0),
    };
    let what = "a share: \"1%\" or \"0.01\"";
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{what}, not {text:?}"))?;
    let share = value / scale;
    if !(0.0..=1.0).contains(&share) {
        return Err(format!("{what}, from 0% to 100%, not {text:?}"));
    }
    Ok(share)
}

/// `180/s` or `0.95 capacity` (`95% capacity`, `capacity`).
fn rate(text: &str) -> Result<Limit, String> {
    let what = "goodput is held to a rate: \"180/s\", or a share of the declared capacity: \
                \"0.95 capacity\"";
    if let Some(share_text) = text.strip_suffix("capacity") {
        let share_text = share_text.trim().trim_end_matches('*').trim();
        let share = if share_text.is_empty() {
            1.0
        } else {
            match share_text.strip_suffix('%') {
                Some(n) => n.trim().parse::<f64>().map(|v| v / 100.0),
                None => share_text.parse::<f64>(),
            }
            .map_err(|_| format!("{what}; not {text:?}"))?
        };
        if !(share.is_finite() && share >= 0.0) {
            return Err(format!("{what}; not {text:?}"));
        }
        return Ok(Limit::OfCapacity(share));
    }
    let number = text
        .strip_suffix("/s")
        .ok_or_else(|| format!("{what}; not {text:?} (add \"/s\" to a rate)"))?;
    match number.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(Limit::Rate(r)),
        _ => Err(format!("{what}; not {text:?}")),
    }
}

/// A strict bound at the end of the figure's range: a typo for the inclusive one.
fn never_holds(op: Op, limit: Limit) -> bool {
    let (value, top) = match limit {
        Limit::Time(t) => (t.as_secs_f64(), None),
        Limit::Share(s) => (s, Some(1.0)),
        Limit::Rate(r) | Limit::OfCapacity(r) => (r, None),
    };
    (op == Op::Below && value == 0.0) || (op == Op::Above && top == Some(value))
}

fn share_of(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        f64::NAN
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn micros(t: Duration) -> u64 {
    u64::try_from(t.as_micros()).unwrap_or(u64::MAX)
}

/// A figure as a detail prints it: three significant digits or whole numbers.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() < 10.0 {
        format!("{v:.2}")
    } else if v.abs() < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn every_form_parses() {
        let t = |s: &str| Threshold::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let p99 = t("p99 < 250ms");
        assert_eq!(
            (p99.figure, p99.op, p99.limit),
            (Figure::Latency { p: 99.0 }, Op::Below, Limit::Time(ms(250)))
        );
        assert_eq!(p99.to_string(), "p99 < 250ms");
        assert_eq!(t("p50<=40ms").op, Op::AtMost);
        assert_eq!(t("p50<=40ms").to_string(), "p50 <= 40ms");
        assert_eq!(t("p99.9 < 1.5s").figure, Figure::Latency { p: 99.9 });
        assert_eq!(t("p99.9 < 1.5s").limit, Limit::Time(ms(1500)));
        assert_eq!(t("max < 2s").figure, Figure::Latency { p: 100.0 });
        assert_eq!(t("p100 < 2s").figure, Figure::Latency { p: 100.0 });
        assert_eq!(t("p90 > 1ms").op, Op::Above);
        assert_eq!(t("p90 ≤ 1ms").to_string(), "p90 <= 1ms");
        assert_eq!(t("availability ≥ 99%").op, Op::AtLeast);
        let errors = t("error_rate < 1%");
        assert_eq!(
            (errors.figure, errors.limit),
            (Figure::ErrorRate, Limit::Share(0.01))
        );
        assert_eq!(t("error_rate <= 0.05").limit, Limit::Share(0.05));
        assert_eq!(t("error_rate <= 0%").limit, Limit::Share(0.0));
        let up = t("availability > 99%");
        assert_eq!(
            (up.figure, up.op, up.limit),
            (Figure::Availability, Op::Above, Limit::Share(0.99))
        );
        assert_eq!(t("availability >= 100%").limit, Limit::Share(1.0));
        assert_eq!(t("availability>=0.999").limit, Limit::Share(0.999));
        let good = t("goodput > 0.95 capacity");
        assert_eq!(
            (good.figure, good.limit),
            (Figure::Goodput { within: None }, Limit::OfCapacity(0.95))
        );
        assert!(good.needs_capacity());
        assert_eq!(t("goodput >= 95% capacity").limit, Limit::OfCapacity(0.95));
        assert_eq!(t("goodput >= capacity").limit, Limit::OfCapacity(1.0));
        assert_eq!(t("goodput > 180/s").limit, Limit::Rate(180.0));
        assert!(!t("goodput > 180/s").needs_capacity());
        assert_eq!(
            t("goodput(150ms) >= 90/s").figure,
            Figure::Goodput {
                within: Some(ms(150))
            }
        );
        assert_eq!(
            t("  goodput   >   0.95   capacity ").to_string(),
            "goodput > 0.95 capacity"
        );
    }

    #[test]
    fn each_mistake_is_named_with_what_is_accepted() {
        let cases = [
            ("p99 250ms", "no comparison"),
            ("", "no comparison"),
            ("p99 <", "nothing after <"),
            ("p99 < 250", "add a unit"),
            ("p99 < fast", "not a time"),
            ("p99 < 5d", "unknown unit"),
            ("p98.x < 1s", "unknown figure \"p98.x\""),
            (
                "latency < 1s",
                "unknown figure \"latency\"; use p50, p90, p99",
            ),
            ("p0 < 1s", "a percentile above 0, at most 100"),
            ("p999 < 1s", "p99.9 for the 99.9th"),
            ("error_rate < lots", "error_rate is a share"),
            ("error_rate < 150%", "from 0% to 100%"),
            ("availability > 1.5", "from 0% to 100%"),
            ("goodput > 180", "add \"/s\""),
            (
                "goodput > fast capacity",
                "a share of the declared capacity",
            ),
            ("goodput > -5/s", "goodput is held to a rate"),
            ("goodput(0ms) > 5/s", "must be more than 0"),
            ("goodput(soon) > 5/s", "goodput(time)"),
            ("p99 < 0ms", "no run can meet < 0ms; did you mean <="),
            ("error_rate < 0%", "did you mean <="),
            ("availability > 100%", "did you mean >="),
            ("goodput < 0/s", "no run can meet"),
        ];
        for (text, expected) in cases {
            match Threshold::parse(text) {
                Ok(t) => panic!("{text:?} was accepted as {t:?}"),
                Err(why) => assert!(
                    why.contains(expected) && why.starts_with("threshold ") && !why.contains('\n'),
                    "{text:?}: {why}"
                ),
            }
        }
    }

    #[test]
    fn a_set_needs_its_capacity_and_no_twins() {
        let t = |s: &str| Threshold::parse(s).unwrap();
        let e = Slo::new(vec![t("p99 < 1s"), t("goodput > 0.9 capacity")], None).unwrap_err();
        assert_eq!(e.index(), Some(1));
        assert!(e.to_string().contains("no capacity is declared"), "{e}");
        assert!(Slo::new(vec![t("goodput > 0.9 capacity")], Some(200.0)).is_ok());
        let e = Slo::new(vec![], Some(0.0)).unwrap_err();
        assert_eq!(e.index(), None);
        assert!(e.to_string().contains("more than 0"), "{e}");
        let e = Slo::new(vec![t("p99<1s"), t("p99 < 1s")], None).unwrap_err();
        assert_eq!(e.index(), Some(1));
        assert!(e.to_string().contains("listed twice"), "{e}");
    }

    #[test]
    fn flags_are_parsed_by_the_same_parser() {
        let flags = |t: &[&str], c: Option<&str>| {
            let t: Vec<String> = t.iter().map(|s| s.to_string()).collect();
            Slo::from_flags(&t, c)
        };
        let slo = flags(&["p99<250ms", "goodput>0.95 capacity"], Some("200")).unwrap();
        assert_eq!(slo.capacity, Some(200.0));
        assert_eq!(slo.thresholds[1].to_string(), "goodput > 0.95 capacity");
        assert_eq!(flags(&[], Some("200/s")).unwrap().capacity, Some(200.0));
        for (t, c, expected) in [
            (
                &["p99<250"][..],
                None,
                "bad --threshold: threshold \"p99<250\"",
            ),
            (&["goodput>0.9 capacity"][..], None, "needs --capacity"),
            (
                &[][..],
                Some("-1"),
                "--capacity must be requests per second above 0",
            ),
            (&[][..], Some("lots"), "--capacity must be"),
            (&["p99<1s", "p99 < 1s"][..], None, "listed twice"),
        ] {
            let why = flags(t, c).unwrap_err();
            assert!(
                why.contains(expected) && !why.contains('\n'),
                "{t:?} {c:?}: {why}"
            );
        }
    }

    /// A run of `sent` requests over 10 s, `ok` of them ok, each latency in µs as given.
    struct Run {
        latency: Histogram<u64>,
        ok_latency: Histogram<u64>,
        sent: u64,
        ok: u64,
    }

    impl Run {
        fn new(ok_us: &[u64], failed_us: &[u64]) -> Run {
            let mut run = Run {
                latency: load::new_histogram(),
                ok_latency: load::new_histogram(),
                sent: (ok_us.len() + failed_us.len()) as u64,
                ok: ok_us.len() as u64,
            };
            for &us in ok_us {
                load::record_us(&mut run.latency, us);
                load::record_us(&mut run.ok_latency, us);
            }
            for &us in failed_us {
                load::record_us(&mut run.latency, us);
            }
            run
        }

        fn figures(&self) -> Figures<'_> {
            Figures {
                sent: self.sent,
                ok: self.ok,
                over: Duration::from_secs(10),
                latency: &self.latency,
                ok_latency: (self.ok > 0).then_some(&self.ok_latency),
            }
        }

        fn passes(&self, threshold: &str, capacity: Option<f64>) -> bool {
            let t = Threshold::parse(threshold).unwrap();
            t.check(&self.figures(), capacity).passed
        }
    }

    #[test]
    fn latency_thresholds_hold_at_their_bound_and_break_just_past_it() {
        // Below 2048 µs the histogram is exact: 99 requests at 1 ms, the slowest at 2 ms.
        let mut ok = vec![1_000; 99];
        ok.push(2_000);
        let run = Run::new(&ok, &[]);
        assert!(run.passes("p99 <= 1ms", None));
        assert!(!run.passes("p99 < 1ms", None));
        assert!(run.passes("p99 < 1.001s", None));
        assert!(run.passes("max <= 2ms", None));
        assert!(!run.passes("max < 2ms", None));
        assert!(!run.passes("p99.9 <= 1ms", None));
        assert!(run.passes("p50 >= 1ms", None) && !run.passes("p50 > 1ms", None));

        let slow = Run::new(&[412_000; 100], &[]);
        let result = Threshold::parse("p99 < 250ms")
            .unwrap()
            .check(&slow.figures(), None);
        assert!(!result.passed);
        assert_eq!(result.name, "threshold p99 < 250ms");
        assert_eq!(result.detail, "p99 was 412 ms, the threshold is < 250ms");
        assert_eq!((result.unit.as_str(), result.threshold), ("ms", 250.0));
        assert!((result.figure - 412.0).abs() < 0.5, "{result:?}");
    }

    #[test]
    fn rates_are_shares_of_what_was_sent() {
        // 990 ok, 10 failed: an error rate of exactly 1%.
        let run = Run::new(&[1_000; 990], &[1_000; 10]);
        assert!(run.passes("error_rate <= 1%", None));
        assert!(!run.passes("error_rate < 1%", None));
        assert!(run.passes("error_rate < 1.1%", None));
        assert!(run.passes("availability >= 99%", None));
        assert!(!run.passes("availability > 99%", None));
        assert!(!run.passes("availability >= 0.991", None));
        let result = Threshold::parse("error_rate < 1%")
            .unwrap()
            .check(&run.figures(), None);
        assert_eq!(
            result.detail,
            "error_rate was 1% (10 of 1000 sent), the threshold is < 1%"
        );
        let nothing = Run::new(&[], &[]);
        let result = Threshold::parse("availability > 99%")
            .unwrap()
            .check(&nothing.figures(), None);
        assert!(!result.passed, "nothing sent proves nothing: {result:?}");
        assert!(result.detail.contains("not measured"), "{}", result.detail);
    }

    #[test]
    fn goodput_is_ok_answers_per_second_against_a_rate_or_the_capacity() {
        // 1900 ok in 10 s: 190/s; 1000 of them within 1 ms, the rest at 2 ms.
        let mut ok = vec![1_000; 1000];
        ok.extend([2_000; 900]);
        let run = Run::new(&ok, &[1_000; 100]);
        assert!(run.passes("goodput >= 190/s", None));
        assert!(!run.passes("goodput > 190/s", None));
        assert!(run.passes("goodput >= 0.95 capacity", Some(200.0)));
        assert!(run.passes("goodput > 0.94 capacity", Some(200.0)));
        assert!(!run.passes("goodput > 0.95 capacity", Some(200.0)));
        assert!(!run.passes("goodput >= 0.95 capacity", Some(201.0)));
        assert!(!run.passes("goodput >= 0.96 capacity", Some(200.0)));
        assert!(run.passes("goodput(1ms) >= 100/s", None));
        assert!(!run.passes("goodput(1ms) > 100/s", None));
        assert!(run.passes("goodput(2ms) >= 190/s", None));
        let result = Threshold::parse("goodput > 0.96 capacity")
            .unwrap()
            .check(&run.figures(), Some(200.0));
        assert_eq!(
            result.detail,
            "goodput was 190/s, the threshold is > 0.96 capacity (192/s)"
        );
        let result = Threshold::parse("goodput > 0.9 capacity")
            .unwrap()
            .check(&run.figures(), None);
        assert!(!result.passed, "an undeclared capacity never passes");
        let nothing_ok = Run::new(&[], &[1_000; 5]);
        assert!(!nothing_ok.passes("goodput(1s) > 0/s", None));
        assert!(nothing_ok.passes("goodput(1s) >= 0/s", None));
    }

    #[test]
    fn lines_mark_each_threshold() {
        let run = Run::new(&[1_000; 10], &[]);
        let slo = Slo::new(
            vec![
                Threshold::parse("p99 < 1s").unwrap(),
                Threshold::parse("goodput > 5/s").unwrap(),
            ],
            None,
        )
        .unwrap();
        let text = lines(&slo.check(&run.figures()));
        assert_eq!(
            text,
            "  ok    threshold p99 < 1s       p99 was 1 ms, within < 1s\n  \
             FAIL  threshold goodput > 5/s  goodput was 1/s, the threshold is > 5/s\n"
        );
    }
}
