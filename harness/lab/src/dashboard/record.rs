//! What the dashboard did, kept as data: every action with its time, written as a scenario
//! file (`[[faults]]` entries at their times, the format of `harness::scenario`) that
//! `cargo lab scenario run` replays, and turned into the report's fault spans (a kill lasts
//! until its node's restart, as in a scenario's report).

use std::fmt::Write as _;
use std::time::Duration;

use harness::fault::{Entry, Fault, Hit, Target};
use harness::report::Span;
use harness::scenario::{self, NodeRef};

/// One thing done from the page, at `at` since the run started.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub at: Duration,
    pub what: What,
}

// One per click of a person: the size of the fault variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// A fault as the page sent it (the file's fields), what it means, and when it was done
    /// (a restart is done once the node is ready; a fault that ends others ends them then).
    Fault {
        entry: Entry,
        fault: Fault,
        hit: Hit,
        done: Duration,
        /// Why applying it failed, if it did (kept: a replay tries it too).
        error: Option<String>,
    },
    /// The workload's rate changed.
    Rate(f64),
}

/// What a recording says about the run besides its actions.
pub struct Recorded<'a> {
    pub node: &'a NodeRef,
    pub node_args: &'a [String],
    pub nodes: usize,
    pub seed: u64,
    /// The rate the run started at.
    pub rate: f64,
    pub carts: usize,
    pub read_share: f64,
    pub timeout: Duration,
    /// How long the run has gone on so far.
    pub elapsed: Duration,
}

/// The actions as a scenario file: the same cluster and workload, each fault at its time.
/// The load phase lasts until the recording was made (at least a second past the last
/// action). A scenario has one rate: rate changes are kept as comments.
pub fn scenario_text(run: &Recorded, actions: &[Action]) -> String {
    let last = actions.iter().map(|a| a.at).max().unwrap_or_default();
    let duration = run.elapsed.max(last + Duration::from_secs(1));
    let mut out = String::new();
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let _ = writeln!(
        out,
        "# Recorded by cargo lab dashboard. Replay it: cargo lab scenario run <this file>\n\
         name = \"dashboard-recording\"\n\
         description = \"what was clicked on the dashboard, at the same times\"\n\
         duration = \"{}ms\"\nrecover = \"2s\"\nseed = {}\n",
        duration.as_millis(),
        run.seed
    );
    out.push_str("[cluster]\n");
    match run.node {
        NodeRef::Binary(bin) => {
            let _ = writeln!(out, "binary = {}", q(bin));
        }
        NodeRef::Exercise(name) => {
            let _ = writeln!(out, "exercise = {}", q(name));
        }
    }
    let args: Vec<String> = run.node_args.iter().map(|a| q(a)).collect();
    let _ = writeln!(
        out,
        "nodes = {}\nargs = [{}]\n\n[workload]\nrate = {}\ncarts = {}\nread_share = {}\ntimeout = \"{}ms\"",
        run.nodes,
        args.join(", "),
        toml_float(run.rate),
        run.carts,
        toml_float(run.read_share),
        run.timeout.as_millis()
    );
    for action in actions {
        match &action.what {
            What::Rate(rate) => {
                let _ = writeln!(
                    out,
                    "# at {:.3} s the rate was set to {rate}/s (a scenario keeps one rate)",
                    action.at.as_secs_f64()
                );
            }
            What::Fault { entry, .. } => {
                let _ = writeln!(
                    out,
                    "\n[[faults]]\nat = \"{}ms\"\nfault = {}",
                    action.at.as_millis(),
                    q(&entry.fault)
                );
                let text = [
                    ("target", &entry.target),
                    ("from", &entry.from),
                    ("to", &entry.to),
                    ("latency", &entry.latency),
                    ("jitter", &entry.jitter),
                ];
                for (key, value) in text {
                    if let Some(v) = value {
                        let _ = writeln!(out, "{key} = {}", q(v));
                    }
                }
                if let Some(groups) = &entry.groups {
                    let groups: Vec<String> = groups
                        .iter()
                        .map(|g| {
                            let ids: Vec<String> = g.iter().map(|id| q(id)).collect();
                            format!("[{}]", ids.join(", "))
                        })
                        .collect();
                    let _ = writeln!(out, "groups = [{}]", groups.join(", "));
                }
                if let Some(p) = entry.p {
                    let _ = writeln!(out, "p = {}", toml_float(p));
                }
                if let Some(b) = entry.bytes_per_sec {
                    let _ = writeln!(out, "bytes_per_sec = {b}");
                }
            }
        }
    }
    out
}

/// A scheduled fault as the entry a page would have sent: the same fields a scenario file
/// gives it (picks such as `one` stay picks; the recording keeps the run's seed).
pub fn entry_of(fault: &Fault, target: &Target) -> Entry {
    let ms = |d: &Duration| format!("{}ms", d.as_millis());
    let mut entry = Entry {
        fault: fault.name().to_string(),
        ..Entry::default()
    };
    match target {
        Target::Cluster => {}
        Target::Node(id) => entry.target = Some(id.clone()),
        Target::One => entry.target = Some("one".into()),
        Target::Minority => entry.target = Some("minority".into()),
        Target::Majority => entry.target = Some("majority".into()),
        Target::All => entry.target = Some("all".into()),
        Target::Link { from, to } => {
            entry.from = Some(from.clone());
            entry.to = Some(to.clone());
        }
        Target::Groups(groups) => entry.groups = Some(groups.clone()),
    }
    match fault {
        Fault::Latency { latency, jitter } => {
            entry.latency = Some(ms(latency));
            entry.jitter = (!jitter.is_zero()).then(|| ms(jitter));
        }
        Fault::Bandwidth { bytes_per_sec } => entry.bytes_per_sec = Some(*bytes_per_sec),
        Fault::Loss { p } | Fault::DropResponse { p } => entry.p = Some(*p),
        _ => {}
    }
    entry
}

/// A float as TOML writes it (always with a point: `100.0`, `0.2`).
fn toml_float(v: f64) -> String {
    toml::Value::Float(v).to_string()
}

/// The actions' faults as the report's spans, by `harness::scenario::spans`, the scenario
/// run's own rule: a fault that only ends others counts from when it was done; whatever is
/// still open ends `now` (still open: `true`).
pub fn spans(actions: &[Action], now: Duration) -> Vec<(Span, bool)> {
    let log: Vec<(Duration, Fault, Hit)> = actions
        .iter()
        .filter_map(|action| match &action.what {
            What::Fault {
                fault, hit, done, ..
            } => {
                let at = if fault.only_ends() { *done } else { action.at };
                Some((at, fault.clone(), hit.clone()))
            }
            _ => None,
        })
        .collect();
    scenario::spans(&log, now)
}

/// The faults still in force, with what they hit (for the topology).
pub fn open_faults(actions: &[Action]) -> Vec<(Fault, Hit)> {
    let mut open: Vec<(Fault, Hit)> = Vec::new();
    for action in actions {
        let What::Fault { fault, hit, .. } = &action.what else {
            continue;
        };
        open.retain(|(opened, opened_hit)| !fault.undoes(opened, opened_hit, hit));
        if !fault.only_ends() && !fault.is_instant() {
            open.push((fault.clone(), hit.clone()));
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use harness::fault;
    use harness::scenario::Scenario;

    use super::*;

    fn fault(at_ms: u64, entry: Entry, ids: &[String]) -> Action {
        let (fault, target) = fault::parse(&entry, ids).expect("a valid entry");
        let hit = target.resolve(&fault, &fault::Picks::draw(ids, 1));
        Action {
            at: Duration::from_millis(at_ms),
            what: What::Fault {
                entry,
                fault,
                hit,
                done: Duration::from_millis(at_ms + 40),
                error: None,
            },
        }
    }

    fn entry(name: &str) -> Entry {
        Entry {
            fault: name.into(),
            ..Entry::default()
        }
    }

    /// Every kind of control the page has, recorded, written, and read back by the scenario
    /// parser with the same faults at the same times.
    #[test]
    fn a_recording_parses_back_to_the_same_schedule() {
        let ids: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
        let node = |name: &str, id: &str| Entry {
            target: Some(id.into()),
            ..entry(name)
        };
        let link = |name: &str, from: &str, to: &str| Entry {
            from: Some(from.into()),
            to: Some(to.into()),
            ..entry(name)
        };
        let actions = vec![
            fault(1200, node("kill", "n2"), &ids),
            Action {
                at: Duration::from_millis(1500),
                what: What::Rate(80.0),
            },
            fault(2300, node("restart", "n2"), &ids),
            fault(2500, node("pause", "n3"), &ids),
            fault(2700, node("resume", "n3"), &ids),
            fault(3000, link("cut", "n1", "n2"), &ids),
            fault(3001, link("cut", "n2", "n1"), &ids),
            fault(
                3500,
                Entry {
                    groups: Some(vec![vec!["n1".into()], vec!["n2".into(), "n3".into()]]),
                    ..entry("partition")
                },
                &ids,
            ),
            fault(4000, entry("heal"), &ids),
            fault(
                4100,
                Entry {
                    latency: Some("100ms".into()),
                    jitter: Some("20ms".into()),
                    ..link("latency", "client", "n1")
                },
                &ids,
            ),
            fault(
                4200,
                Entry {
                    p: Some(0.3),
                    ..node("loss", "n3")
                },
                &ids,
            ),
            fault(
                4300,
                Entry {
                    p: Some(0.25),
                    ..link("drop_response", "n1", "n3")
                },
                &ids,
            ),
            fault(5000, entry("clear"), &ids),
        ];
        let node_ref = NodeRef::Exercise("consistent-hashing".into());
        let run = Recorded {
            node: &node_ref,
            node_args: &["--vnodes".to_string(), "64".to_string()],
            nodes: 3,
            seed: 1,
            rate: 50.0,
            carts: 20,
            read_share: 0.2,
            timeout: Duration::from_secs(1),
            elapsed: Duration::from_millis(5600),
        };
        let text = scenario_text(&run, &actions);
        let scenario = Scenario::parse(Path::new("recorded.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(scenario.duration, Duration::from_millis(6000), "{text}");
        assert_eq!(scenario.cluster.nodes, 3);
        assert_eq!(scenario.cluster.node, node_ref);
        assert_eq!(scenario.cluster.args, ["--vnodes", "64"]);
        assert_eq!(scenario.workload.rate, 50.0);
        let recorded: Vec<(Duration, Fault)> = actions
            .iter()
            .filter_map(|a| match &a.what {
                What::Fault { fault, .. } => Some((a.at, fault.clone())),
                What::Rate(_) => None,
            })
            .collect();
        let replayed: Vec<(Duration, Fault)> = scenario
            .faults
            .iter()
            .map(|f| (f.at, f.fault.clone()))
            .collect();
        assert_eq!(replayed, recorded, "{text}");
        let picks = fault::Picks::draw(&ids, scenario.seed);
        let hits: Vec<Hit> = scenario
            .faults
            .iter()
            .map(|f| f.target.resolve(&f.fault, &picks))
            .collect();
        let recorded_hits: Vec<Hit> = actions
            .iter()
            .filter_map(|a| match &a.what {
                What::Fault { hit, .. } => Some(hit.clone()),
                What::Rate(_) => None,
            })
            .collect();
        assert_eq!(hits, recorded_hits);
        assert!(text.contains("rate was set to 80/s"), "{text}");

        // A demo's scheduled fault, as presenter mode records it, reads back the same.
        for f in &scenario.faults {
            let entry = entry_of(&f.fault, &f.target);
            assert_eq!(
                fault::parse(&entry, &ids).map_err(|e| e.reason),
                Ok((f.fault.clone(), f.target.clone())),
                "{entry:?}"
            );
        }
        let one = entry_of(&Fault::Kill, &Target::One);
        assert_eq!(one.target.as_deref(), Some("one"), "a pick stays a pick");
    }

    #[test]
    fn spans_end_where_the_report_ends_them() {
        let ids: Vec<String> = (1..=2).map(|i| format!("n{i}")).collect();
        let kill = Entry {
            target: Some("n2".into()),
            ..entry("kill")
        };
        let restart = Entry {
            fault: "restart".into(),
            ..kill.clone()
        };
        let actions = [fault(1000, kill, &ids), fault(2000, restart, &ids)];
        let spans = spans(&actions, Duration::from_secs(9));
        assert_eq!(spans.len(), 1);
        let (span, still_open) = &spans[0];
        assert_eq!(span.label, "kill n2");
        assert_eq!(span.start, Duration::from_millis(1000));
        assert_eq!(
            span.end,
            Duration::from_millis(2040),
            "ends once the restart is done"
        );
        assert!(!still_open);
        assert!(open_faults(&actions).is_empty());
        assert_eq!(open_faults(&actions[..1]).len(), 1);
    }
}
