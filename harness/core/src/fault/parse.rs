//! A fault as a scenario file writes it: one `[[faults]]` entry's fields, checked.

use std::time::Duration;

use super::{CLIENT, Fault, Takes, Target};

/// The fields of one `[[faults]]` entry, as written (times still text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub fault: String,
    /// `n2`, `one`, `minority`, `majority` or `all`.
    pub target: Option<String>,
    /// A link's ends: `from = "n1", to = "n2"` (`from` may be `client`).
    pub from: Option<String>,
    pub to: Option<String>,
    /// `groups = [["n1", "n2"], ["n3"]]`.
    pub groups: Option<Vec<Vec<String>>>,
    pub latency: Option<String>,
    pub jitter: Option<String>,
    /// A probability: `loss`, `drop_response`.
    pub p: Option<f64>,
    pub bytes_per_sec: Option<u64>,
}

/// Which field of an entry is wrong, and why: the scenario file turns the field into a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The entry's field name (`fault`, `target`, `p`, ...).
    pub field: &'static str,
    pub reason: String,
}

fn wrong(field: &'static str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field,
        reason: reason.into(),
    }
}

/// Checks an entry against a cluster of nodes `ids` and returns the fault and its target.
pub fn parse(entry: &Entry, ids: &[String]) -> Result<(Fault, Target), FieldError> {
    let fault = fault_of(entry)?;
    let target = target_of(&fault, entry, ids)?;
    Ok((fault, target))
}

/// The fault and its own settings; the target is checked by [`target_of`].
pub(super) fn fault_of(entry: &Entry) -> Result<Fault, FieldError> {
    let name = entry.fault.as_str();
    let time =
        |field: &'static str, text: &Option<String>| -> Result<Option<Duration>, FieldError> {
            text.as_deref()
                .map(crate::duration::parse)
                .transpose()
                .map_err(|why| wrong(field, why))
        };
    let probability = || -> Result<f64, FieldError> {
        match entry.p {
            None => Err(wrong(
                "fault",
                format!("{name} needs p = 0.3 (a probability)"),
            )),
            Some(p) if p > 0.0 && p <= 1.0 => Ok(p),
            Some(p) => Err(wrong(
                "p",
                format!("p = {p}: a probability above 0, at most 1"),
            )),
        }
    };
    let fault = match name {
        "kill" => Fault::Kill,
        "pause" => Fault::Pause,
        "resume" => Fault::Resume,
        "restart" => Fault::Restart,
        "stop" => Fault::Stop,
        "isolate" => Fault::Isolate,
        "partition" => Fault::Partition,
        "cut" => Fault::Cut,
        "heal" => Fault::Heal,
        "blackhole" => Fault::Blackhole,
        "reset" => Fault::Reset,
        "clear" => Fault::Clear,
        "join" => Fault::Join,
        "leave" => Fault::Leave,
        "latency" => {
            let latency = time("latency", &entry.latency)?
                .ok_or_else(|| wrong("fault", "latency needs latency = \"100ms\""))?;
            let jitter = time("jitter", &entry.jitter)?.unwrap_or_default();
            Fault::Latency { latency, jitter }
        }
        "bandwidth" => match entry.bytes_per_sec {
            Some(rate) if rate >= 1 => Fault::Bandwidth {
                bytes_per_sec: rate,
            },
            Some(_) => return Err(wrong("bytes_per_sec", "bytes_per_sec: at least 1")),
            None => {
                return Err(wrong("fault", "bandwidth needs bytes_per_sec = 10000"));
            }
        },
        "loss" => Fault::Loss { p: probability()? },
        "drop_response" => Fault::DropResponse { p: probability()? },
        other => {
            return Err(wrong(
                "fault",
                format!(
                    "unknown fault {other:?}; known faults: {}",
                    Fault::NAMES.join(", ")
                ),
            ));
        }
    };
    // A setting the fault does not use is a mistake worth naming (a `p` on a kill).
    let settings: [(&'static str, bool, bool); 4] = [
        (
            "latency",
            entry.latency.is_some(),
            matches!(fault, Fault::Latency { .. }),
        ),
        (
            "jitter",
            entry.jitter.is_some(),
            matches!(fault, Fault::Latency { .. }),
        ),
        (
            "p",
            entry.p.is_some(),
            matches!(fault, Fault::Loss { .. } | Fault::DropResponse { .. }),
        ),
        (
            "bytes_per_sec",
            entry.bytes_per_sec.is_some(),
            matches!(fault, Fault::Bandwidth { .. }),
        ),
    ];
    for (field, given, used) in settings {
        if given && !used {
            return Err(wrong(field, format!("{name} takes no {field}")));
        }
    }
    Ok(fault)
}

fn target_of(fault: &Fault, entry: &Entry, ids: &[String]) -> Result<Target, FieldError> {
    let name = fault.name();
    let node = |field: &'static str, id: &str| -> Result<String, FieldError> {
        if ids.iter().any(|known| known == id) {
            Ok(id.to_string())
        } else {
            Err(wrong(
                field,
                format!(
                    "no node {id:?} in this cluster; nodes are {}",
                    ids.join(", ")
                ),
            ))
        }
    };
    let link = || -> Result<Target, FieldError> {
        let (Some(from), Some(to)) = (&entry.from, &entry.to) else {
            return Err(wrong(
                "fault",
                format!("{name} on a link needs both from = \"n1\" and to = \"n2\""),
            ));
        };
        let from = if from == CLIENT {
            from.clone()
        } else {
            node("from", from)?
        };
        let to = node("to", to)?;
        if from == to {
            return Err(wrong(
                "to",
                format!("{from} -> {to}: a link joins two nodes"),
            ));
        }
        Ok(Target::Link { from, to })
    };
    let nodes = |text: &str| -> Result<Target, FieldError> {
        match text {
            "one" => Ok(Target::One),
            "minority" => Ok(Target::Minority),
            "majority" => Ok(Target::Majority),
            "all" => Ok(Target::All),
            id => node("target", id)
                .map(Target::Node)
                .map_err(|e| FieldError {
                    reason: format!("{}; or one, minority, majority, all", e.reason),
                    ..e
                }),
        }
    };
    let has_link = entry.from.is_some() || entry.to.is_some();
    let refuse =
        |field: &'static str, what: &str| Err(wrong(field, format!("{name} takes no {what}")));
    match (fault.takes(), &entry.target, has_link, &entry.groups) {
        (Takes::Nothing, None, false, None) => Ok(Target::Cluster),
        (Takes::Nothing, Some(_), ..) => refuse("target", "target: it acts on the whole cluster"),
        (Takes::Nothing, _, true, _) => refuse("from", "link: it acts on the whole cluster"),
        (Takes::Nothing, _, _, Some(_)) => refuse("groups", "groups"),

        (_, None, false, None) => Err(wrong("fault", format!("{name} needs {}", need(fault)))),
        (_, Some(_), true, _) | (_, Some(_), _, Some(_)) | (_, _, true, Some(_)) => Err(wrong(
            "fault",
            format!("{name} takes one of {}, not several", need(fault)),
        )),

        (Takes::Nodes | Takes::NodesOrGroups | Takes::NodesOrLink, Some(t), false, None) => {
            nodes(t)
        }
        (Takes::Link | Takes::NodesOrLink, None, true, None) => link(),
        (Takes::NodesOrGroups, None, false, Some(groups)) => {
            check_groups(groups, ids).map(|()| Target::Groups(groups.clone()))
        }
        (Takes::Link, Some(_), ..) => refuse(
            "target",
            "target: a cut is one way, from = \"n1\", to = \"n2\" (isolate or partition cut both ways)",
        ),
        (_, _, true, _) => refuse("from", "link"),
        (_, _, _, Some(_)) => refuse("groups", "groups: groups are for partition"),
    }
}

/// What a fault's target fields are, for messages.
fn need(fault: &Fault) -> &'static str {
    match fault.takes() {
        Takes::Nothing => "nothing",
        Takes::Nodes => "target = \"n2\" (or one, minority, majority, all)",
        Takes::NodesOrGroups => {
            "target = \"minority\" (against the rest) or groups = [[\"n1\", \"n2\"], [\"n3\"]]"
        }
        Takes::Link => "from = \"n1\", to = \"n2\" (one way)",
        Takes::NodesOrLink => {
            "target = \"n2\" (every link into it) or from = \"n1\", to = \"n2\" (one link)"
        }
    }
}

/// Every node in exactly one group, at least two groups with nodes in them.
fn check_groups(groups: &[Vec<String>], ids: &[String]) -> Result<(), FieldError> {
    let mut seen: Vec<&str> = Vec::new();
    for id in groups.iter().flatten() {
        if !ids.contains(id) {
            return Err(wrong(
                "groups",
                format!(
                    "no node {id:?} in this cluster; nodes are {}",
                    ids.join(", ")
                ),
            ));
        }
        if seen.contains(&id.as_str()) {
            return Err(wrong(
                "groups",
                format!("{id} is in two groups; each node belongs to one"),
            ));
        }
        seen.push(id);
    }
    if let Some(missing) = ids.iter().find(|id| !seen.contains(&id.as_str())) {
        return Err(wrong(
            "groups",
            format!("{missing} is in no group; put every node in one"),
        ));
    }
    if groups.iter().filter(|g| !g.is_empty()).count() < 2 {
        return Err(wrong("groups", "a partition needs at least two groups"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        crate::fault::testing::ids(5)
    }

    fn entry(fault: &str) -> Entry {
        Entry {
            fault: fault.into(),
            ..Entry::default()
        }
    }

    fn groups(gs: &[&[&str]]) -> Option<Vec<Vec<String>>> {
        Some(crate::fault::testing::groups(gs))
    }

    #[test]
    fn the_new_faults_parse_with_their_targets() {
        let cut = Entry {
            from: Some("n1".into()),
            to: Some("n2".into()),
            ..entry("cut")
        };
        assert_eq!(
            parse(&cut, &ids()),
            Ok((
                Fault::Cut,
                Target::Link {
                    from: "n1".into(),
                    to: "n2".into()
                }
            ))
        );
        let split = Entry {
            groups: groups(&[&["n1", "n2"], &["n3", "n4", "n5"]]),
            ..entry("partition")
        };
        assert!(matches!(
            parse(&split, &ids()),
            Ok((Fault::Partition, Target::Groups(g))) if g.len() == 2
        ));
        let lossy = Entry {
            target: Some("n2".into()),
            p: Some(0.3),
            ..entry("loss")
        };
        assert_eq!(
            parse(&lossy, &ids()),
            Ok((Fault::Loss { p: 0.3 }, Target::Node("n2".into())))
        );
        let replies = Entry {
            from: Some("client".into()),
            to: Some("n2".into()),
            p: Some(1.0),
            ..entry("drop_response")
        };
        assert!(parse(&replies, &ids()).is_ok());
        let slow = Entry {
            target: Some("all".into()),
            bytes_per_sec: Some(5000),
            ..entry("bandwidth")
        };
        assert!(parse(&slow, &ids()).is_ok());
        assert_eq!(
            parse(
                &Entry {
                    target: Some("one".into()),
                    ..entry("reset")
                },
                &ids()
            ),
            Ok((Fault::Reset, Target::One))
        );
        assert_eq!(
            parse(&entry("heal"), &ids()),
            Ok((Fault::Heal, Target::Cluster))
        );
        for (name, fault) in [("join", Fault::Join), ("leave", Fault::Leave)] {
            let on_n5 = Entry {
                target: Some("n5".into()),
                ..entry(name)
            };
            assert_eq!(
                parse(&on_n5, &ids()),
                Ok((fault, Target::Node("n5".into())))
            );
        }
    }

    #[test]
    fn membership_faults_need_nodes_and_take_no_link() {
        let cases: Vec<(Entry, &str, &str)> = vec![
            (entry("join"), "fault", "join needs target"),
            (
                Entry {
                    target: Some("n9".into()),
                    ..entry("join")
                },
                "target",
                "no node \"n9\"",
            ),
            (
                Entry {
                    from: Some("n1".into()),
                    to: Some("n2".into()),
                    ..entry("leave")
                },
                "from",
                "leave takes no link",
            ),
            (
                Entry {
                    target: Some("n2".into()),
                    p: Some(0.5),
                    ..entry("leave")
                },
                "p",
                "leave takes no p",
            ),
        ];
        for (e, field, reason) in cases {
            let err = parse(&e, &ids()).expect_err(&format!("{e:?} was accepted"));
            assert_eq!(err.field, field, "{e:?}: {err:?}");
            assert!(err.reason.contains(reason), "{e:?}: {err:?}");
        }
    }

    #[test]
    fn mistakes_name_the_field_and_what_to_write() {
        let cases: Vec<(Entry, &str, &str)> = vec![
            (entry("explode"), "fault", "known faults: kill"),
            (entry("kill"), "fault", "needs target"),
            (
                Entry {
                    target: Some("n9".into()),
                    ..entry("kill")
                },
                "target",
                "no node \"n9\"",
            ),
            (
                Entry {
                    target: Some("n1".into()),
                    ..entry("cut")
                },
                "target",
                "one way",
            ),
            (
                Entry {
                    from: Some("n1".into()),
                    ..entry("cut")
                },
                "fault",
                "both from",
            ),
            (
                Entry {
                    from: Some("n1".into()),
                    to: Some("n1".into()),
                    ..entry("cut")
                },
                "to",
                "joins two nodes",
            ),
            (
                Entry {
                    target: Some("n1".into()),
                    ..entry("loss")
                },
                "fault",
                "needs p",
            ),
            (
                Entry {
                    target: Some("n1".into()),
                    p: Some(1.5),
                    ..entry("loss")
                },
                "p",
                "at most 1",
            ),
            (
                Entry {
                    target: Some("n1".into()),
                    p: Some(0.5),
                    ..entry("kill")
                },
                "p",
                "kill takes no p",
            ),
            (
                Entry {
                    target: Some("n1".into()),
                    ..entry("heal")
                },
                "target",
                "whole cluster",
            ),
            (
                Entry {
                    groups: groups(&[&["n1", "n2"], &["n2", "n3", "n4", "n5"]]),
                    ..entry("partition")
                },
                "groups",
                "in two groups",
            ),
            (
                Entry {
                    groups: groups(&[&["n1", "n2"], &["n3"]]),
                    ..entry("partition")
                },
                "groups",
                "n4 is in no group",
            ),
            (
                Entry {
                    groups: groups(&[&["n1", "n2", "n3", "n4", "n5"]]),
                    ..entry("partition")
                },
                "groups",
                "at least two",
            ),
            (
                Entry {
                    target: Some("n1".into()),
                    groups: groups(&[&["n1"], &["n2", "n3", "n4", "n5"]]),
                    ..entry("partition")
                },
                "fault",
                "not several",
            ),
            (
                Entry {
                    target: Some("n1".into()),
                    latency: Some("3".into()),
                    ..entry("latency")
                },
                "latency",
                "add a unit",
            ),
        ];
        for (e, field, reason) in cases {
            let err = parse(&e, &ids()).expect_err(&format!("{e:?} was accepted"));
            assert_eq!(err.field, field, "{e:?}: {err:?}");
            assert!(err.reason.contains(reason), "{e:?}: {err:?}");
        }
    }
}
