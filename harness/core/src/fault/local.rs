//! Faults on local processes and their proxies: how each one is done on a [`Cluster`].
//!
//! Process faults are signals to the node's process group; network faults are settings on
//! the fault proxies (one per ordered pair of nodes, one per node for clients). Every local
//! fault can be done: nothing is refused here.

use super::{CLIENT, Fault, Hit};
use crate::cluster::{Cluster, ClusterError};
use crate::proxy::Proxy;

/// Applies `fault` to `hit` on a local cluster.
pub fn apply(cluster: &Cluster, fault: &Fault, hit: &Hit) -> Result<(), ClusterError> {
    let nodes = hit.nodes();
    let each = |f: &dyn Fn(&str) -> Result<(), ClusterError>| nodes.iter().try_for_each(|id| f(id));
    match fault {
        Fault::Kill => each(&|id| cluster.kill(id)),
        Fault::Pause => each(&|id| cluster.pause(id)),
        Fault::Resume => each(&|id| cluster.resume(id)),
        Fault::Restart => each(&|id| cluster.restart(id)),
        Fault::Stop => each(&|id| cluster.stop(id).map(|_| ())),
        Fault::Join => each(&|id| cluster.join(id)),
        Fault::Leave => each(&|id| cluster.leave(id)),
        Fault::Isolate => each(&|id| cluster.isolate(id)),
        Fault::Partition => {
            let Hit::Groups(groups) = hit else {
                return Err(ClusterError::BadRequest("a partition needs groups".into()));
            };
            let groups: Vec<Vec<&str>> = groups
                .iter()
                .map(|g| g.iter().map(String::as_str).collect())
                .collect();
            let groups: Vec<&[&str]> = groups.iter().map(Vec::as_slice).collect();
            cluster.partition(&groups)
        }
        Fault::Heal => {
            cluster.heal();
            // A cut or blackhole on a client link ends with the rest.
            for id in cluster.ids() {
                cluster.client_link(&id).heal();
            }
            Ok(())
        }
        Fault::Clear => {
            cluster.clear_faults();
            Ok(())
        }
        Fault::Cut => on_links(cluster, hit, Proxy::cut),
        Fault::Blackhole => on_links(cluster, hit, Proxy::blackhole),
        Fault::Reset => on_links(cluster, hit, Proxy::reset),
        Fault::Latency { latency, jitter } => {
            on_links(cluster, hit, |p| p.latency(*latency, *jitter))
        }
        Fault::Bandwidth { bytes_per_sec } => {
            on_links(cluster, hit, |p| p.bandwidth(Some(*bytes_per_sec)))
        }
        Fault::Loss { p } => on_links(cluster, hit, |proxy| proxy.loss(*p)),
        Fault::DropResponse { p } => on_links(cluster, hit, |proxy| proxy.drop_response(*p)),
    }
}

/// The proxies a link fault acts on: one link, or every link into each node hit (from each
/// peer and from clients).
pub fn links<'a>(cluster: &'a Cluster, hit: &Hit) -> Result<Vec<&'a Proxy>, ClusterError> {
    match hit {
        Hit::Link { from, to } if from == CLIENT => Ok(vec![cluster.try_client_link(to)?]),
        Hit::Link { from, to } => Ok(vec![cluster.try_link(from, to)?]),
        Hit::Nodes(ids) => {
            let mut proxies = Vec::new();
            for id in ids {
                for from in cluster.ids().iter().filter(|from| *from != id) {
                    proxies.push(cluster.try_link(from, id)?);
                }
                proxies.push(cluster.try_client_link(id)?);
            }
            Ok(proxies)
        }
        Hit::Cluster | Hit::Groups(_) => Err(ClusterError::BadRequest(
            "a link fault needs nodes or one link".into(),
        )),
    }
}

fn on_links(cluster: &Cluster, hit: &Hit, f: impl Fn(&Proxy)) -> Result<(), ClusterError> {
    links(cluster, hit)?.into_iter().for_each(f);
    Ok(())
}
