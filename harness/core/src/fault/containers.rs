//! Faults on containers: what each fault becomes on a docker-compose cluster, or why it
//! cannot be done there, said before a run starts.
//!
//! Containers talk to each other directly over a Docker network, with no proxy between them,
//! so there is nothing to delay, lose or cut one way. A container is on the network or off
//! it: the one partition it can make is one node against the rest (by disconnecting that
//! node), and an isolated container loses its published port too, so clients lose it as well.
//!
//! | fault     | containers                                         |
//! |-----------|----------------------------------------------------|
//! | kill      | `docker kill` (SIGKILL)                            |
//! | pause     | `docker pause`: the cgroup freezer                 |
//! | resume    | `docker unpause`                                   |
//! | restart   | kill, `docker start`, wait for healthy             |
//! | stop      | `docker stop -t 5`                                 |
//! | isolate   | `docker network disconnect`                        |
//! | partition | one node against the rest only: isolate that node  |
//! | heal, clear | `docker network connect --alias <id>`            |
//! | join, leave | refused: compose starts every service at once      |
//! | the rest  | refused, with the reason                           |

use std::fmt;

use super::{Fault, Hit};

/// One thing the docker CLI does to one container (or, for `Heal`, to all of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Kill(String),
    Pause(String),
    Resume(String),
    Restart(String),
    Stop(String),
    /// Disconnect from the cluster's network.
    Isolate(String),
    /// Reconnect every disconnected container, with its alias.
    Heal,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Kill(id) => write!(f, "kill {id}"),
            Step::Pause(id) => write!(f, "pause {id}"),
            Step::Resume(id) => write!(f, "resume {id}"),
            Step::Restart(id) => write!(f, "restart {id}"),
            Step::Stop(id) => write!(f, "stop {id}"),
            Step::Isolate(id) => write!(f, "isolate {id}"),
            Step::Heal => write!(f, "heal"),
        }
    }
}

/// The docker steps for `fault` on `hit` in a cluster of `ids`, or why containers cannot do it.
pub fn plan(fault: &Fault, hit: &Hit, ids: &[String]) -> Result<Vec<Step>, String> {
    let nodes = hit.nodes();
    let each = |step: fn(String) -> Step| Ok(nodes.iter().cloned().map(step).collect());
    let local = "run this scenario with --target local";
    let label = super::label(fault, hit);
    match fault {
        Fault::Kill => each(Step::Kill),
        Fault::Pause => each(Step::Pause),
        Fault::Resume => each(Step::Resume),
        Fault::Restart => each(Step::Restart),
        Fault::Stop => each(Step::Stop),
        Fault::Isolate => each(Step::Isolate),
        Fault::Heal | Fault::Clear => Ok(vec![Step::Heal]),
        Fault::Partition => match hit {
            Hit::Groups(groups) => lonely_node(groups, ids)
                .map(|id| vec![Step::Isolate(id.to_string())])
                .map_err(|why| format!("{label}: {why}")),
            _ => Err(format!("{label}: a partition needs groups")),
        },
        Fault::Cut => Err(format!(
            "{label}: a container is on a Docker network both ways or not at all, so it cannot \
             lose one peer one way; isolate the node instead (cuts it from every node and from \
             clients), or {local}"
        )),
        Fault::Latency { .. } | Fault::Bandwidth { .. } => Err(format!(
            "{label}: containers talk directly, with no proxy between them, and Docker has no \
             per-link delay or rate limit (tc netem would need root and tools a scratch image \
             lacks); {local}"
        )),
        Fault::Blackhole => Err(format!(
            "{label}: holding bytes on an open connection needs a proxy in the path (the nearest \
             on containers is pause, which hangs the whole node); {local}"
        )),
        Fault::Join | Fault::Leave => Err(format!(
            "{label}: the compose cluster starts every node at once and has no node held back \
             to join, and its nodes' peer lists are fixed in the compose file; a stopped \
             container is down, not gone, to its peers; {local}"
        )),
        Fault::Loss { .. } | Fault::DropResponse { .. } | Fault::Reset => Err(format!(
            "{label}: losing or resetting single connections needs a proxy in the path, and \
             containers talk directly; {local}"
        )),
    }
}

/// The one node a partition cuts off from the rest: the only partition a Docker network can
/// make, by disconnecting that node.
pub(crate) fn lonely_node<'a>(
    groups: &'a [Vec<String>],
    ids: &[String],
) -> Result<&'a str, String> {
    let mut seen: Vec<&str> = Vec::new();
    for id in groups.iter().flatten() {
        if !ids.contains(id) {
            return Err(format!("no node {id:?}; nodes are {}", ids.join(", ")));
        }
        if seen.contains(&id.as_str()) {
            return Err(format!("names {id} twice; each node belongs to one group"));
        }
        seen.push(id);
    }
    if let Some(missing) = ids.iter().find(|id| !seen.contains(&id.as_str())) {
        return Err(format!("leaves {missing} out; put every node in a group"));
    }
    let groups: Vec<&Vec<String>> = groups.iter().filter(|g| !g.is_empty()).collect();
    match groups.as_slice() {
        [a, _] if a.len() == 1 => Ok(&a[0]),
        [_, b] if b.len() == 1 => Ok(&b[0]),
        _ => Err(
            "containers can only cut one node off from the rest (by disconnecting it from the \
             network); other partitions need the harness's proxies: run this scenario with \
             --target local"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::testing::{ids, nodes};
    use std::time::Duration;

    fn groups(gs: &[&[&str]]) -> Hit {
        Hit::Groups(crate::fault::testing::groups(gs))
    }

    #[test]
    fn what_containers_can_do_maps_to_docker_steps() {
        let three = ids(3);
        let cases = [
            (Fault::Kill, nodes(&["n1"]), vec![Step::Kill("n1".into())]),
            (Fault::Pause, nodes(&["n2"]), vec![Step::Pause("n2".into())]),
            (
                Fault::Resume,
                nodes(&["n2"]),
                vec![Step::Resume("n2".into())],
            ),
            (
                Fault::Restart,
                nodes(&["n1"]),
                vec![Step::Restart("n1".into())],
            ),
            (Fault::Stop, nodes(&["n3"]), vec![Step::Stop("n3".into())]),
            (
                Fault::Isolate,
                nodes(&["n3"]),
                vec![Step::Isolate("n3".into())],
            ),
            (Fault::Heal, Hit::Cluster, vec![Step::Heal]),
            (Fault::Clear, Hit::Cluster, vec![Step::Heal]),
            (
                Fault::Partition,
                groups(&[&["n1", "n2"], &["n3"]]),
                vec![Step::Isolate("n3".into())],
            ),
            (
                Fault::Partition,
                groups(&[&["n2"], &["n1", "n3"]]),
                vec![Step::Isolate("n2".into())],
            ),
        ];
        for (fault, hit, steps) in cases {
            assert_eq!(
                plan(&fault, &hit, &three),
                Ok(steps),
                "{fault:?} on {hit:?}"
            );
        }
    }

    #[test]
    fn link_faults_are_refused_with_the_reason_and_what_to_do() {
        let link = Hit::Link {
            from: "n1".into(),
            to: "n2".into(),
        };
        let latency = Fault::Latency {
            latency: Duration::from_millis(100),
            jitter: Duration::ZERO,
        };
        let cases = [
            (latency, "delay"),
            (Fault::Bandwidth { bytes_per_sec: 10 }, "rate limit"),
            (Fault::Cut, "both ways or not at all"),
            (Fault::Loss { p: 0.5 }, "proxy"),
            (Fault::DropResponse { p: 0.5 }, "proxy"),
            (Fault::Blackhole, "pause"),
            (Fault::Reset, "proxy"),
        ];
        for fault in [Fault::Join, Fault::Leave] {
            let why = plan(&fault, &nodes(&["n3"]), &ids(3)).expect_err("membership refused");
            assert!(why.contains("starts every node at once"), "{why}");
            assert!(why.contains("--target local"), "says what to do: {why}");
            assert!(why.contains(fault.name()), "names the fault: {why}");
        }
        for (fault, reason) in cases {
            let why = plan(&fault, &link, &ids(3)).expect_err(&format!("{fault:?} accepted"));
            assert!(why.contains(reason), "{fault:?}: {why}");
            assert!(why.contains("--target local"), "says what to do: {why}");
            assert!(why.contains("n1->n2"), "names the fault: {why}");
        }
    }

    #[test]
    fn only_one_node_against_the_rest_is_a_container_partition() {
        let five = ids(5);
        let why = plan(
            &Fault::Partition,
            &groups(&[&["n1", "n2"], &["n3", "n4", "n5"]]),
            &five,
        )
        .expect_err("a 2|3 split is refused");
        assert!(why.contains("one node off from the rest"), "{why}");
        assert!(why.contains("partition n1,n2 | n3,n4,n5"), "{why}");
        assert!(why.contains("--target local"), "{why}");
        for (gs, says) in [
            (
                groups(&[&["n1"], &["n2"], &["n3"]]),
                "only cut one node off",
            ),
            (groups(&[&["n1", "n2"], &["n3", "n4"]]), "no node \"n4\""),
            (groups(&[&["n1", "n2"], &["n2", "n3"]]), "names n2 twice"),
            (groups(&[&["n1"], &["n2"]]), "leaves n3 out"),
        ] {
            let why = plan(&Fault::Partition, &gs, &ids(3)).expect_err("refused");
            assert!(why.contains(says), "{gs:?}: {why:?} should say {says:?}");
        }
        assert_eq!(
            plan(
                &Fault::Partition,
                &groups(&[&["n1", "n3"], &["n2"]]),
                &ids(3)
            ),
            Ok(vec![Step::Isolate("n2".into())])
        );
    }
}
