//! What three nodes see of each other when one of them hangs, and when one dies.
//!
//! Each test starts three nodes of this crate's binary with T = 1.2 s, first waits until
//! every node sees every peer up (so a detector that always says down cannot pass), then
//! breaks one node and watches the other two through `GET /cluster`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use failure_detection_solution::{ClusterView, Verdict};
use harness::eventually::NodeHttp;
use harness::{Cluster, block_on};

/// T, the tick time the nodes run with: long enough that its windows dwarf scheduling noise
/// on a busy 2-core laptop, short enough for a quick test.
const T: Duration = Duration::from_millis(1200);

#[test]
fn a_paused_peer_is_declared_down_after_about_t_and_up_again_when_it_resumes() {
    let cluster = three_nodes();
    block_on(async {
        let views = Views::new(&cluster);
        views.wait_until_all_up("at start").await;

        // SIGSTOP: n2's sockets stay open, it just never answers. Only the silence tells.
        cluster.pause("n2").expect("pause n2");
        let paused = Instant::now();
        let seen = views.watch_n2(Verdict::Down, T * 2, paused).await;
        let (low, high) = (
            T * 3 / 4 - Duration::from_millis(100),
            T * 5 / 4 + Duration::from_millis(300),
        );
        for (watcher, after, why) in &seen {
            println!(
                "{watcher} declared the paused n2 down {} ms after the pause ({why})",
                after.as_millis()
            );
            assert!(
                !why.contains("link closed"),
                "{watcher} says n2 is down because \"{why}\", but a paused node's link stays open: the ticks must tell"
            );
            assert!(
                *after >= low && *after <= high,
                "{watcher} declared the paused n2 down {} ms after the pause; with T = {} ms, net_ticktime's window is 0.75 T to 1.25 T, so between {} and {} ms with the slack",
                after.as_millis(),
                T.as_millis(),
                low.as_millis(),
                high.as_millis()
            );
        }

        // SIGCONT: n2 answers the ticks that waited for it, and is up again within a tick or two.
        cluster.resume("n2").expect("resume n2");
        let resumed = Instant::now();
        for (watcher, after, _) in views.watch_n2(Verdict::Up, T, resumed).await {
            println!(
                "{watcher} saw n2 up again {} ms after it resumed",
                after.as_millis()
            );
        }
        views.wait_until_all_up("after n2 resumed").await;
    });
}

#[test]
fn a_killed_peer_is_seen_through_the_closed_link_in_a_fraction_of_t() {
    let cluster = three_nodes();
    block_on(async {
        let views = Views::new(&cluster);
        views.wait_until_all_up("at start").await;

        // SIGKILL: n2's operating system closes its sockets, and the close reaches n1 and n3
        // through the proxies at once. No need to wait for silent ticks.
        cluster.kill("n2").expect("kill n2");
        let killed = Instant::now();
        let within = T * 3 / 10;
        for (watcher, after, why) in views.watch_n2(Verdict::Down, T * 2, killed).await {
            println!(
                "{watcher} declared the killed n2 down {} ms after the kill ({why})",
                after.as_millis()
            );
            assert!(
                after < within,
                "{watcher} declared the killed n2 down {} ms after the kill ({why}); a closed link must mark the peer down at once, well under 0.3 T = {} ms, not after the ticks time out",
                after.as_millis(),
                within.as_millis()
            );
        }

        // Restarted, n2 is redialed and up again.
        cluster.restart("n2").expect("restart n2");
        views.wait_until_all_up("after n2 restarted").await;
    });
}

fn three_nodes() -> Cluster {
    Cluster::builder(harness::node_bin!())
        .nodes(3)
        .args(["--tick-time-ms", &T.as_millis().to_string()])
        .start()
        .unwrap_or_else(|e| panic!("the cluster did not start:\n{e}"))
}

/// Reads the nodes' views through their client proxies.
struct Views<'a> {
    cluster: &'a Cluster,
    nodes: BTreeMap<String, NodeHttp>,
}

impl<'a> Views<'a> {
    fn new(cluster: &'a Cluster) -> Self {
        let nodes = cluster
            .ids()
            .into_iter()
            .map(|id| {
                let http = cluster.http(&id).timeout(Duration::from_secs(1));
                (id, http)
            })
            .collect();
        Views { cluster, nodes }
    }

    /// `GET /cluster` on node `id`, or why it gave no view.
    async fn of(&self, id: &str) -> Result<ClusterView, String> {
        self.nodes[id].get_json("/cluster").await
    }

    /// Healthy path: every node sees every peer up, within a few ticks.
    async fn wait_until_all_up(&self, when: &str) {
        let what = format!("every node to see every peer up ({when})");
        self.cluster
            .eventually(&what, T * 3, async || {
                let mut down = Vec::new();
                for id in self.nodes.keys() {
                    let view = self.of(id).await?;
                    assert_eq!(
                        view.peers.len(),
                        2,
                        "{id} should watch its 2 peers, watches {:?}",
                        view.peers.keys()
                    );
                    for (peer, seen) in view.peers {
                        if seen.state != Verdict::Up {
                            down.push(format!("{id} sees {peer} {:?} ({})", seen.state, seen.why));
                        }
                    }
                }
                if down.is_empty() {
                    Ok(())
                } else {
                    Err(down.join("; "))
                }
            })
            .await;
    }

    /// Polls n1 and n3 until both see n2 in `state`; returns, per watcher, how long after
    /// `since` it first did and why. All along, n1 and n3 must keep seeing each other up.
    async fn watch_n2(
        &self,
        state: Verdict,
        limit: Duration,
        since: Instant,
    ) -> Vec<(String, Duration, String)> {
        let mut seen: Vec<(String, Duration, String)> = Vec::new();
        let state_word = format!("{state:?}").to_lowercase();
        let what = format!("n1 and n3 to see n2 {state_word}");
        self.cluster
            .eventually(&what, limit, async || {
                for (watcher, other) in [("n1", "n3"), ("n3", "n1")] {
                    if seen.iter().any(|(w, _, _)| w == watcher) {
                        continue;
                    }
                    let view = self.of(watcher).await?;
                    let at = since.elapsed();
                    let other_seen = &view.peers[other];
                    assert_eq!(
                        other_seen.state,
                        Verdict::Up,
                        "{watcher} says the healthy {other} is down ({}) while only n2 was touched",
                        other_seen.why
                    );
                    let n2 = &view.peers["n2"];
                    if n2.state == state {
                        seen.push((watcher.to_string(), at, n2.why.clone()));
                    }
                }
                if seen.len() == 2 {
                    Ok(())
                } else {
                    let watchers: Vec<&String> = seen.iter().map(|(w, _, _)| w).collect();
                    Err(format!(
                        "n2 is {state_word} for only {watchers:?} of n1 and n3"
                    ))
                }
            })
            .await;
        seen
    }
}
