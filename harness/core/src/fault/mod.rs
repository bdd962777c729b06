//! Faults as values: what a fault does ([`Fault`]) kept apart from whom it hits ([`Target`]).
//!
//! One vocabulary for tests, scenario files, containers and reports. This module is the one
//! place that knows, for every fault:
//! - its name in a scenario file and the fields it takes ([`parse`]);
//! - whom it may target, and how a seeded run turns `one` or `minority` into node ids
//!   ([`Target::resolve`], giving a concrete [`Hit`]);
//! - how it is applied to local processes and their proxies ([`local`]);
//! - how it maps onto containers, or why it cannot, refused before a run starts
//!   ([`containers`]);
//! - what undoes it ([`Fault::undoes`]) and how a report labels it ([`label`]).
//!
//! Adding a fault touches this folder and its tests, nothing else.
//!
//! | fault           | targets                     | undone by             |
//! |-----------------|-----------------------------|-----------------------|
//! | `kill`, `stop`  | nodes                       | `restart`             |
//! | `pause`         | nodes                       | `resume`, `restart`   |
//! | `isolate`       | nodes (cut from every peer) | `heal`, `clear`       |
//! | `partition`     | nodes (against the rest) or `groups` | `heal`, `clear` |
//! | `cut`           | one link, one way: `from`, `to` | `heal`, `clear`   |
//! | `blackhole`     | nodes (every link into them) or a link | `heal`, `clear` |
//! | `latency`, `bandwidth`, `loss`, `drop_response` | nodes or a link | `clear` |
//! | `reset`         | nodes or a link (one shot)  | (nothing to undo)     |
//! | `leave`         | nodes (a graceful stop; no longer members) | `join` |
//! | `heal`, `clear`, `restart`, `resume`, `join` | (end the faults above) |  |
//!
//! Membership: `join` starts a node that is not a member (held back from the start, or
//! gone with `leave`); a scenario holds back every node its schedule joins. What joining
//! means to the nodes (exercise 15's ring claim and handoff) is the node's own business.
//!
//! "Into a node" means every link that carries requests to it: from each peer and from
//! clients. A link's `from` may be `client`, the proxy clients use to reach `to`.
//!
//! ```
//! use harness::fault::{Fault, Hit, label};
//! let lossy = Fault::Loss { p: 0.3 };
//! let hit = Hit::Link { from: "client".into(), to: "n2".into() };
//! assert_eq!(label(&lossy, &hit), "loss 30% client->n2");
//! assert!(Fault::Clear.undoes(&lossy, &hit, &Hit::Cluster));
//! ```

pub mod containers;
pub mod local;
mod parse;

pub use parse::{Entry, FieldError, parse};

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The end of a link that stands for the lab's clients (the load, a test's HTTP client).
pub const CLIENT: &str = "client";

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// SIGKILL: the node is gone, its sockets closed.
    Kill,
    /// SIGSTOP: the hung node whose sockets stay open.
    Pause,
    /// SIGCONT.
    Resume,
    /// Start the node again with the same id and data directory (kills it first if needed).
    Restart,
    /// SIGTERM, then SIGKILL if it lingers: a graceful stop.
    Stop,
    /// Cut the nodes off from every other node, both ways; clients still reach them.
    Isolate,
    /// Groups that cannot reach each other, both ways; clients still reach everyone.
    Partition,
    /// One link, one way: the connections `from` opens to `to` stall in both byte directions;
    /// connections `to` opens to `from` are untouched.
    Cut,
    /// Ends cuts, partitions, isolations and blackholes.
    Heal,
    /// Each chunk of bytes delayed by `latency` plus up to `jitter`, never reordered.
    Latency { latency: Duration, jitter: Duration },
    /// Bytes swallowed both ways, connections held open.
    Blackhole,
    /// Each direction of each connection limited to this rate.
    Bandwidth { bytes_per_sec: u64 },
    /// Each new connection blackholed for its whole life with probability `p` (seeded).
    Loss { p: f64 },
    /// Each new connection, with probability `p`: the request passes and is applied, the
    /// client is reset before the reply reaches it.
    DropResponse { p: f64 },
    /// One shot: every connection open now is reset.
    Reset,
    /// Every network fault off.
    Clear,
    /// A node that is not a member starts and joins (held back from the start, or gone with
    /// `leave`).
    Join,
    /// A member leaves: a graceful stop, after which it is no member until it joins again.
    Leave,
}

/// What kind of target a fault takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// None: `heal`, `clear`.
    Nothing,
    /// Nodes by id or pick (`n2`, `one`, `minority`, `majority`, `all`).
    Nodes,
    /// Nodes, or explicit groups.
    NodesOrGroups,
    /// Exactly one link, one way.
    Link,
    /// Nodes (every link into them), or one link.
    NodesOrLink,
}

impl Fault {
    /// Every fault's name in a scenario file.
    pub const NAMES: [&str; 18] = [
        "kill",
        "pause",
        "resume",
        "restart",
        "stop",
        "isolate",
        "partition",
        "cut",
        "heal",
        "latency",
        "blackhole",
        "bandwidth",
        "loss",
        "drop_response",
        "reset",
        "clear",
        "join",
        "leave",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::Resume => "resume",
            Fault::Restart => "restart",
            Fault::Stop => "stop",
            Fault::Isolate => "isolate",
            Fault::Partition => "partition",
            Fault::Cut => "cut",
            Fault::Heal => "heal",
            Fault::Latency { .. } => "latency",
            Fault::Blackhole => "blackhole",
            Fault::Bandwidth { .. } => "bandwidth",
            Fault::Loss { .. } => "loss",
            Fault::DropResponse { .. } => "drop_response",
            Fault::Reset => "reset",
            Fault::Clear => "clear",
            Fault::Join => "join",
            Fault::Leave => "leave",
        }
    }

    /// What it may target.
    pub fn takes(&self) -> Takes {
        match self {
            Fault::Kill
            | Fault::Pause
            | Fault::Resume
            | Fault::Restart
            | Fault::Stop
            | Fault::Isolate
            | Fault::Join
            | Fault::Leave => Takes::Nodes,
            Fault::Partition => Takes::NodesOrGroups,
            Fault::Cut => Takes::Link,
            Fault::Heal | Fault::Clear => Takes::Nothing,
            Fault::Latency { .. }
            | Fault::Blackhole
            | Fault::Bandwidth { .. }
            | Fault::Loss { .. }
            | Fault::DropResponse { .. }
            | Fault::Reset => Takes::NodesOrLink,
        }
    }

    /// True for what only ends other faults (`restart`, `resume`, `heal`, `clear`, `join`):
    /// it opens no interval of its own in a report.
    pub fn only_ends(&self) -> bool {
        matches!(
            self,
            Fault::Restart | Fault::Resume | Fault::Heal | Fault::Clear | Fault::Join
        )
    }

    /// True for a one-shot fault: it acts at an instant and leaves nothing to undo.
    pub fn is_instant(&self) -> bool {
        matches!(self, Fault::Reset)
    }

    /// Does this fault, applied to `hit`, end `open`, which was applied to `open_hit`?
    pub fn undoes(&self, open: &Fault, open_hit: &Hit, hit: &Hit) -> bool {
        let same_nodes = || open_hit.nodes().iter().all(|n| hit.nodes().contains(n));
        let network = matches!(
            open,
            Fault::Isolate | Fault::Partition | Fault::Cut | Fault::Blackhole
        );
        match (open, self) {
            (Fault::Kill | Fault::Stop | Fault::Pause, Fault::Restart) => same_nodes(),
            (Fault::Pause, Fault::Resume) => same_nodes(),
            (Fault::Leave, Fault::Join) => same_nodes(),
            (_, Fault::Heal) => network,
            (
                Fault::Latency { .. }
                | Fault::Bandwidth { .. }
                | Fault::Loss { .. }
                | Fault::DropResponse { .. },
                Fault::Clear,
            ) => true,
            (_, Fault::Clear) => network,
            _ => false,
        }
    }
}

/// Whom a fault hits, as a test or a scenario file names it. Picks (`one`, `minority`,
/// `majority`) are drawn once per run from its seed and keep their meaning for the whole run,
/// so `kill one` then `restart one` is the same node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// No one in particular: `heal`, `clear`.
    Cluster,
    Node(String),
    One,
    /// The smaller side of a seeded split (at least one node).
    Minority,
    /// The rest.
    Majority,
    All,
    /// One link, one way.
    Link {
        from: String,
        to: String,
    },
    /// Explicit groups; every node in exactly one.
    Groups(Vec<Vec<String>>),
}

/// Whom a fault hits, concretely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    Cluster,
    Nodes(Vec<String>),
    Link { from: String, to: String },
    Groups(Vec<Vec<String>>),
}

impl Hit {
    /// The nodes whose traffic the fault touches: the nodes hit, both ends of a link (less
    /// the clients), every node of a partition; none for the whole cluster.
    pub fn nodes(&self) -> Vec<String> {
        match self {
            Hit::Cluster => Vec::new(),
            Hit::Nodes(ids) => ids.clone(),
            Hit::Link { from, to } => [from, to]
                .into_iter()
                .filter(|id| *id != CLIENT)
                .cloned()
                .collect(),
            Hit::Groups(groups) => groups.iter().flatten().cloned().collect(),
        }
    }
}

/// A run's random picks, drawn once from its seed.
#[derive(Debug, Clone)]
pub struct Picks {
    ids: Vec<String>,
    one: String,
    minority: Vec<String>,
}

impl Picks {
    /// Draws `one` and the minority among `ids` (the cluster's node ids, in order).
    pub fn draw(ids: &[String], seed: u64) -> Picks {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5ce0_a210);
        let one = ids[rng.random_range(0..ids.len())].clone();
        let mut shuffled = ids.to_vec();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.random_range(0..=i));
        }
        let minority_size = ((ids.len() - 1) / 2).max(1).min(ids.len());
        let mut minority: Vec<String> = shuffled.into_iter().take(minority_size).collect();
        minority.sort();
        Picks {
            ids: ids.to_vec(),
            one,
            minority,
        }
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

impl Target {
    /// The concrete nodes, link or groups this target means in a run. A partition named by
    /// nodes becomes two groups: those nodes, and the rest.
    pub fn resolve(&self, fault: &Fault, picks: &Picks) -> Hit {
        let nodes = |ids: Vec<String>| {
            if *fault == Fault::Partition {
                let rest = picks
                    .ids
                    .iter()
                    .filter(|id| !ids.contains(id))
                    .cloned()
                    .collect();
                Hit::Groups(vec![ids, rest])
            } else {
                Hit::Nodes(ids)
            }
        };
        match self {
            Target::Cluster => Hit::Cluster,
            Target::Node(id) => nodes(vec![id.clone()]),
            Target::One => nodes(vec![picks.one.clone()]),
            Target::Minority => nodes(picks.minority.clone()),
            Target::Majority => nodes(
                picks
                    .ids
                    .iter()
                    .filter(|id| !picks.minority.contains(id))
                    .cloned()
                    .collect(),
            ),
            Target::All => nodes(picks.ids.clone()),
            Target::Link { from, to } => Hit::Link {
                from: from.clone(),
                to: to.clone(),
            },
            Target::Groups(groups) => Hit::Groups(groups.clone()),
        }
    }
}

/// How a report and a terminal name a fault on its target: `kill n2`, `cut n1->n2`,
/// `partition n1,n2 | n3`, `loss 30% into n2`, `heal`.
pub fn label(fault: &Fault, hit: &Hit) -> String {
    let what = match fault {
        Fault::Latency { latency, jitter } if jitter.is_zero() => {
            format!("latency {}", short(*latency))
        }
        Fault::Latency { latency, jitter } => {
            format!("latency {}±{}", short(*latency), short(*jitter))
        }
        Fault::Bandwidth { bytes_per_sec } => format!("bandwidth {bytes_per_sec} B/s"),
        Fault::Loss { p } => format!("loss {}", percent(*p)),
        Fault::DropResponse { p } => format!("drop_response {}", percent(*p)),
        other => other.name().to_string(),
    };
    let into = fault.takes() == Takes::NodesOrLink;
    match hit {
        Hit::Cluster => what,
        Hit::Nodes(ids) if into => format!("{what} into {}", ids.join(",")),
        Hit::Nodes(ids) => format!("{what} {}", ids.join(",")),
        Hit::Link { from, to } => format!("{what} {from}->{to}"),
        Hit::Groups(groups) => {
            let groups: Vec<String> = groups.iter().map(|g| g.join(",")).collect();
            format!("{what} {}", groups.join(" | "))
        }
    }
}

fn percent(p: f64) -> String {
    format!("{}%", (p * 1000.0).round() / 10.0)
}

fn short(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The words the fault module's tests share: node ids, nodes hit, groups.
#[cfg(test)]
pub(crate) mod testing {
    use super::Hit;

    /// `n1` .. `nN`.
    pub fn ids(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    pub fn nodes(list: &[&str]) -> Hit {
        Hit::Nodes(list.iter().map(|s| s.to_string()).collect())
    }

    pub fn groups(gs: &[&[&str]]) -> Vec<Vec<String>> {
        gs.iter()
            .map(|g| g.iter().map(|s| s.to_string()).collect())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{ids, nodes};
    use super::*;

    #[test]
    fn every_named_fault_has_its_name() {
        for name in Fault::NAMES {
            let entry = Entry {
                fault: name.into(),
                latency: (name == "latency").then(|| "10ms".into()),
                p: matches!(name, "loss" | "drop_response").then_some(0.5),
                bytes_per_sec: (name == "bandwidth").then_some(1000),
                ..Entry::default()
            };
            let fault = parse::fault_of(&entry).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(fault.name(), name);
        }
    }

    #[test]
    fn picks_are_seeded_and_keep_their_meaning() {
        let picks = Picks::draw(&ids(5), 7);
        let again = Picks::draw(&ids(5), 7);
        assert_eq!(picks.one, again.one);
        assert_eq!(picks.minority, again.minority);
        assert_eq!(picks.minority.len(), 2, "the smaller side of 5 is 2");
        let Hit::Groups(groups) = Target::Minority.resolve(&Fault::Partition, &picks) else {
            panic!("a partition by nodes is two groups");
        };
        assert_eq!(groups[0], picks.minority);
        assert_eq!(groups[0].len() + groups[1].len(), 5);
        assert_eq!(
            Target::Majority.resolve(&Fault::Kill, &picks).nodes().len(),
            3
        );
    }

    #[test]
    fn what_undoes_what() {
        let n2 = nodes(&["n2"]);
        let n3 = nodes(&["n3"]);
        assert!(Fault::Restart.undoes(&Fault::Kill, &n2, &n2));
        assert!(
            !Fault::Restart.undoes(&Fault::Kill, &n2, &n3),
            "another node"
        );
        assert!(Fault::Resume.undoes(&Fault::Pause, &n2, &n2));
        assert!(!Fault::Resume.undoes(&Fault::Kill, &n2, &n2));
        assert!(Fault::Heal.undoes(&Fault::Cut, &n2, &Hit::Cluster));
        assert!(Fault::Heal.undoes(&Fault::Blackhole, &n2, &Hit::Cluster));
        let latency = Fault::Latency {
            latency: Duration::from_millis(100),
            jitter: Duration::ZERO,
        };
        assert!(
            !Fault::Heal.undoes(&latency, &n2, &Hit::Cluster),
            "heal keeps latency"
        );
        assert!(Fault::Clear.undoes(&latency, &n2, &Hit::Cluster));
        assert!(Fault::Clear.undoes(&Fault::Loss { p: 0.1 }, &n2, &Hit::Cluster));
        assert!(
            !Fault::Clear.undoes(&Fault::Kill, &n2, &Hit::Cluster),
            "clear is network"
        );
        assert!(Fault::Join.undoes(&Fault::Leave, &n2, &n2));
        assert!(!Fault::Join.undoes(&Fault::Leave, &n2, &n3), "another node");
        assert!(
            !Fault::Restart.undoes(&Fault::Leave, &n2, &n2),
            "rejoin with join"
        );
        assert!(!Fault::Heal.undoes(&Fault::Leave, &n2, &Hit::Cluster));
        assert!(
            !Fault::Join.undoes(&Fault::Kill, &n2, &n2),
            "restart a member"
        );
    }

    #[test]
    fn membership_faults_take_nodes_and_join_only_ends_a_leave() {
        for fault in [Fault::Join, Fault::Leave] {
            assert_eq!(fault.takes(), Takes::Nodes, "{fault:?}");
            assert!(!fault.is_instant());
        }
        assert!(Fault::Join.only_ends(), "a join opens no interval");
        assert!(
            !Fault::Leave.only_ends(),
            "a leave lasts until the node joins"
        );
        assert_eq!(label(&Fault::Join, &nodes(&["n4"])), "join n4");
        assert_eq!(label(&Fault::Leave, &nodes(&["n2"])), "leave n2");
    }

    #[test]
    fn labels_read_like_the_schedule() {
        let link = Hit::Link {
            from: "n1".into(),
            to: "n2".into(),
        };
        assert_eq!(label(&Fault::Kill, &nodes(&["n2"])), "kill n2");
        assert_eq!(label(&Fault::Cut, &link), "cut n1->n2");
        assert_eq!(
            label(
                &Fault::Partition,
                &Hit::Groups(vec![ids(2), vec!["n3".into()]])
            ),
            "partition n1,n2 | n3"
        );
        assert_eq!(
            label(&Fault::DropResponse { p: 0.25 }, &nodes(&["n2"])),
            "drop_response 25% into n2"
        );
        let latency = Fault::Latency {
            latency: Duration::from_millis(100),
            jitter: Duration::from_millis(20),
        };
        assert_eq!(
            label(&latency, &nodes(&["n1"])),
            "latency 100ms±20ms into n1"
        );
        assert_eq!(label(&Fault::Heal, &Hit::Cluster), "heal");
    }

    #[test]
    fn a_link_touches_its_node_ends_only() {
        let client = Hit::Link {
            from: CLIENT.into(),
            to: "n2".into(),
        };
        assert_eq!(client.nodes(), vec!["n2".to_string()]);
        assert!(Hit::Cluster.nodes().is_empty());
    }
}
