//! The scenario file format: TOML read into [`Scenario`], every field checked, every
//! mistake named by file, line and reason before anything starts.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{CheckSpec, ClusterSpec, NodeRef, Scenario, ScenarioError, Scheduled, Workload};
use crate::fault::{self, Entry};
use crate::slo::{Slo, SloError, Threshold};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    #[serde(default)]
    description: String,
    /// What a demo says before it starts: what is about to happen and why.
    #[serde(default)]
    intro: String,
    /// Marks a negative control: what it gives up, on purpose (see [`Scenario::control`]).
    control: Option<String>,
    /// Controls to run after this scenario in a demo, as files beside this one.
    #[serde(default)]
    controls: Vec<String>,
    duration: Spanned<String>,
    recover: Option<Spanned<String>>,
    #[serde(default = "default_seed")]
    seed: u64,
    cluster: FileCluster,
    workload: FileWorkload,
    #[serde(default)]
    faults: Vec<FileFault>,
    #[serde(default)]
    checks: Vec<FileCheck>,
    slo: Option<FileSlo>,
}

/// `[slo]`: thresholds on the run's figures (see [`crate::slo`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSlo {
    /// Requests per second the service can serve: what `goodput > 0.95 capacity` means.
    capacity: Option<Spanned<f64>>,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
}

fn default_seed() -> u64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCluster {
    nodes: Spanned<usize>,
    binary: Option<String>,
    exercise: Option<String>,
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWorkload {
    rate: Spanned<f64>,
    /// A plain `GET` of this path on every node instead of cart traffic.
    get: Option<Spanned<String>>,
    /// The nodes clients send to (default: every node).
    nodes: Option<Spanned<Vec<String>>>,
    #[serde(default = "default_carts")]
    carts: usize,
    read_share: Option<Spanned<f64>>,
    timeout: Option<Spanned<String>>,
}

fn default_carts() -> usize {
    20
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFault {
    at: Spanned<String>,
    fault: Spanned<String>,
    target: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    groups: Option<Spanned<Vec<Vec<String>>>>,
    latency: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    p: Option<Spanned<f64>>,
    bytes_per_sec: Option<Spanned<u64>>,
    /// What a demo says when the fault fires.
    say: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCheck {
    check: Spanned<String>,
    max: Option<Spanned<toml::Value>>,
    min: Option<Spanned<f64>>,
    p: Option<Spanned<f64>>,
    window: Option<Spanned<String>>,
    #[serde(default)]
    outside_faults: bool,
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Invalid {
            file: path.to_path_buf(),
            line: 0,
            reason: format!("cannot read it: {e}"),
        })?;
        Scenario::parse(path, &text)
    }

    /// Validates scenario text; `path` names it in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let lines = Lines::of(text);
        let at = |span: Range<usize>, reason: String| ScenarioError::Invalid {
            file: path.to_path_buf(),
            line: lines.line_of(span.start),
            reason,
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| lines.line_of(s.start)).unwrap_or(0);
            ScenarioError::Invalid {
                file: path.to_path_buf(),
                line,
                reason: e.message().to_string(),
            }
        })?;
        let duration = duration_field(&file.duration).map_err(|r| at(file.duration.span(), r))?;
        if duration.is_zero() {
            return Err(at(
                file.duration.span(),
                "duration must be more than 0".into(),
            ));
        }
        let recover = match &file.recover {
            Some(r) => duration_field(r).map_err(|why| at(r.span(), why))?,
            None => Duration::from_secs(2),
        };

        let nodes = *file.cluster.nodes.get_ref();
        if nodes == 0 || nodes > 9 {
            return Err(at(
                file.cluster.nodes.span(),
                format!("nodes = {nodes}: a scenario runs 1 to 9 nodes"),
            ));
        }
        let node = match (file.cluster.binary, file.cluster.exercise) {
            (Some(bin), None) if is_plain_name(&bin) => NodeRef::Binary(bin),
            (Some(bin), None) => {
                return Err(at(
                    file.cluster.nodes.span(),
                    format!(
                        "binary = {bin:?}: the name of a harness binary, such as \"test-node\", not a path"
                    ),
                ));
            }
            (None, Some(exercise)) => NodeRef::Exercise(exercise),
            _ => {
                return Err(at(
                    file.cluster.nodes.span(),
                    "[cluster] needs exactly one of binary = \"...\" or exercise = \"...\"".into(),
                ));
            }
        };
        let ids: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();

        let rate = *file.workload.rate.get_ref();
        if !(rate > 0.0 && rate <= 100_000.0) {
            return Err(at(
                file.workload.rate.span(),
                format!("rate = {rate}: use operations per second, more than 0 and at most 100000"),
            ));
        }
        let read_share = file
            .workload
            .read_share
            .as_ref()
            .map_or(0.0, |r| *r.get_ref());
        if let Some(r) = &file.workload.read_share
            && !(0.0..=1.0).contains(r.get_ref())
        {
            return Err(at(
                r.span(),
                format!("read_share = {read_share}: a share between 0 and 1"),
            ));
        }
        let timeout = match &file.workload.timeout {
            Some(t) => crate::duration::parse_positive("timeout", t.get_ref())
                .map_err(|why| at(t.span(), why))?,
            None => Duration::from_secs(1),
        };
        let get = match &file.workload.get {
            Some(path) if !path.get_ref().starts_with('/') => {
                return Err(at(
                    path.span(),
                    format!("get = {:?}: a path such as \"/health\"", path.get_ref()),
                ));
            }
            other => other.as_ref().map(|p| p.get_ref().clone()),
        };
        let clients_reach = match &file.workload.nodes {
            None => ids.clone(),
            Some(list) => {
                if list.get_ref().is_empty() {
                    return Err(at(list.span(), "nodes = []: name at least one node".into()));
                }
                if let Some(bad) = list.get_ref().iter().find(|id| !ids.contains(id)) {
                    return Err(at(
                        list.span(),
                        format!(
                            "no node {bad:?} in this cluster; nodes are {}",
                            ids.join(", ")
                        ),
                    ));
                }
                list.get_ref().clone()
            }
        };
        let workload = Workload {
            nodes: clients_reach,
            rate,
            get,
            carts: file.workload.carts.max(1),
            read_share,
            timeout,
        };

        let mut faults = Vec::new();
        for f in &file.faults {
            let when = duration_field(&f.at).map_err(|why| at(f.at.span(), why))?;
            if when >= duration {
                return Err(at(
                    f.at.span(),
                    format!(
                        "at = {:?} is past the end of the load phase (duration {:?})",
                        f.at.get_ref(),
                        file.duration.get_ref()
                    ),
                ));
            }
            let entry = Entry {
                fault: f.fault.get_ref().clone(),
                target: f.target.as_ref().map(|t| t.get_ref().clone()),
                from: f.from.as_ref().map(|t| t.get_ref().clone()),
                to: f.to.as_ref().map(|t| t.get_ref().clone()),
                groups: f.groups.as_ref().map(|g| g.get_ref().clone()),
                latency: f.latency.as_ref().map(|t| t.get_ref().clone()),
                jitter: f.jitter.as_ref().map(|t| t.get_ref().clone()),
                p: f.p.as_ref().map(|p| *p.get_ref()),
                bytes_per_sec: f.bytes_per_sec.as_ref().map(|b| *b.get_ref()),
            };
            let (fault, target) = fault::parse(&entry, &ids).map_err(|e| {
                let span = match e.field {
                    "target" => f.target.as_ref().map(Spanned::span),
                    "from" => f.from.as_ref().map(Spanned::span),
                    "to" => f.to.as_ref().map(Spanned::span),
                    "groups" => f.groups.as_ref().map(Spanned::span),
                    "latency" => f.latency.as_ref().map(Spanned::span),
                    "jitter" => f.jitter.as_ref().map(Spanned::span),
                    "p" => f.p.as_ref().map(Spanned::span),
                    "bytes_per_sec" => f.bytes_per_sec.as_ref().map(Spanned::span),
                    _ => None,
                };
                at(span.unwrap_or_else(|| f.fault.span()), e.reason)
            })?;
            faults.push(Scheduled {
                at: when,
                fault,
                target,
                say: f.say.clone(),
                line: lines.line_of(f.at.span().start),
            });
        }
        faults.sort_by_key(|f| f.at);

        let mut checks = Vec::new();
        for c in &file.checks {
            let window = match &c.window {
                Some(w) => duration_field(w).map_err(|why| at(w.span(), why))?,
                None => Duration::from_secs(1),
            };
            let need = |what: &str| {
                at(
                    c.check.span(),
                    format!("{} needs {what}", c.check.get_ref()),
                )
            };
            let count = |v: &Spanned<toml::Value>| -> Result<u64, ScenarioError> {
                match v.get_ref().as_integer() {
                    Some(n) if n >= 0 => Ok(n as u64),
                    _ => Err(at(
                        v.span(),
                        format!("max = {}: a count, 0 or more", v.get_ref()),
                    )),
                }
            };
            let spec = match c.check.get_ref().as_str() {
                "no-lost-acks" => CheckSpec::NoLostAcks,
                "duplicates" => CheckSpec::Duplicates {
                    max: c.max.as_ref().map(count).transpose()?.unwrap_or(0),
                },
                "stale-reads" => CheckSpec::StaleReads {
                    max: c.max.as_ref().map(count).transpose()?.unwrap_or(0),
                },
                "availability" => {
                    let min = c.min.as_ref().ok_or_else(|| need("min = 0.99"))?;
                    if !(0.0..=1.0).contains(min.get_ref()) {
                        return Err(at(
                            min.span(),
                            format!("min = {}: a share between 0 and 1", min.get_ref()),
                        ));
                    }
                    CheckSpec::Availability {
                        min: *min.get_ref(),
                        window,
                        outside_faults: c.outside_faults,
                    }
                }
                "latency" => {
                    let p = c.p.as_ref().ok_or_else(|| need("p = 99"))?;
                    if !(*p.get_ref() > 0.0 && *p.get_ref() <= 100.0) {
                        return Err(at(
                            p.span(),
                            format!("p = {}: a percentile above 0, at most 100", p.get_ref()),
                        ));
                    }
                    let max = c.max.as_ref().ok_or_else(|| need("max = \"250ms\""))?;
                    let max_time = match max.get_ref().as_str() {
                        Some(s) => crate::duration::parse(s).map_err(|why| at(max.span(), why))?,
                        None => {
                            return Err(at(max.span(), "max: a time such as \"250ms\"".into()));
                        }
                    };
                    CheckSpec::Latency {
                        p: *p.get_ref(),
                        max: max_time,
                        window,
                        outside_faults: c.outside_faults,
                    }
                }
                other => {
                    return Err(at(
                        c.check.span(),
                        format!(
                            "unknown check {other:?}; known checks: no-lost-acks, duplicates, \
                             stale-reads, availability, latency"
                        ),
                    ));
                }
            };
            checks.push(spec);
        }
        let slo = match &file.slo {
            None => Slo::default(),
            Some(slo) => {
                let mut thresholds = Vec::new();
                for t in &slo.thresholds {
                    thresholds.push(
                        Threshold::parse(t.get_ref())
                            .map_err(|why| at(t.span(), format!("[slo] thresholds: {why}")))?,
                    );
                }
                let capacity = slo.capacity.as_ref().map(|c| *c.get_ref());
                Slo::new(thresholds, capacity).map_err(|e| {
                    let span = match e.index() {
                        Some(i) => slo.thresholds[i].span(),
                        None => slo.capacity.as_ref().map_or(0..0, Spanned::span),
                    };
                    let why = match e {
                        SloError::BadCapacity(_) => format!("[slo] {e}"),
                        SloError::NoCapacity { .. } => {
                            format!("[slo] thresholds: {e}; add capacity = <per second> to [slo]")
                        }
                        SloError::Twice { .. } => format!("[slo] thresholds: {e}"),
                    };
                    at(span, why)
                })?
            }
        };

        Ok(Scenario {
            name: file.name,
            description: file.description,
            intro: file.intro,
            control: file.control.filter(|c| !c.trim().is_empty()),
            controls: file
                .controls
                .iter()
                .map(|c| path.parent().unwrap_or(Path::new(".")).join(c))
                .collect(),
            path: path.to_path_buf(),
            seed: file.seed,
            duration,
            recover,
            cluster: ClusterSpec {
                nodes,
                node,
                args: file.cluster.args,
            },
            workload,
            faults,
            checks,
            slo,
        })
    }
}

/// Where each line starts, so that a file with thousands of faults still names lines in
/// logarithmic time each.
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines(starts)
    }

    /// The 1-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

fn duration_field(field: &Spanned<String>) -> Result<Duration, String> {
    crate::duration::parse(field.get_ref())
}

/// A binary or package name: letters, digits, `-` and `_`, never a path.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_from_one() {
        let lines = Lines::of("a\nbb\n\nc");
        assert_eq!(lines.line_of(0), 1);
        assert_eq!(lines.line_of(2), 2);
        assert_eq!(lines.line_of(5), 3);
        assert_eq!(lines.line_of(6), 4);
        assert_eq!(lines.line_of(100), 4);
    }
}
