//! On a real 3-node cluster: any node takes any cart request, the cart's owner serves it, and
//! when the owner is killed the next node of the cart's preference list serves it instead.
//!
//! Each test first builds the ring the nodes build (the same names, the same vnodes), so it
//! knows every cart's owner, then watches who serves each request: every node names the node
//! that served a request in the `x-served-by` header.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use consistent_hashing_solution::{Ring, SERVED_BY, VNODES};
use harness::eventually::NodeHttp;
use harness::{Cluster, block_on};
use node_kit::cart::{AddItem, Answer, Cart, CartError};

/// The nodes, as the harness names them.
const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// The carts the tests use: "1" to "48", so cart 42 is among them.
const CARTS: usize = 48;

/// A request after the owner is killed may first try it (refused at once through the
/// harness's proxy) before it goes to the next node: it still answers well within this.
const FAILOVER_LIMIT: Duration = Duration::from_secs(2);

#[test]
fn every_cart_is_served_by_its_owner() {
    let ring = Ring::new(NODES, VNODES);
    let cluster = start();
    block_on(async {
        let shop = Shop::new(&cluster);
        for cart in carts() {
            let owner = ring.owner(&cart);
            for via in NODES {
                let added = shop.add(via, &cart, &format!("from-{via}")).await;
                assert_eq!(
                    added.by, owner,
                    "cart {cart} added through {via} was served by {}; the ring says its owner is {owner} (every node builds its own ring: does the placement depend on anything but the node names?)",
                    added.by
                );
            }
            let read = shop.get(NODES[0], &cart).await;
            assert_eq!(read.by, owner, "cart {cart} was read from {}", read.by);
            assert_eq!(
                read.cart.items,
                ["from-n1", "from-n2", "from-n3"],
                "cart {cart} must hold the three items added through the three nodes"
            );
        }

        // Only the owner stores a cart: ask each node's store directly.
        for node in NODES {
            let mut owned = 0;
            for cart in carts() {
                let stored = shop.stored(node, &cart).await;
                if ring.owner(&cart) == node {
                    owned += 1;
                    assert_eq!(stored.items.len(), 3, "{node} owns cart {cart}: {stored:?}");
                } else {
                    assert!(
                        stored.items.is_empty(),
                        "{node} stores cart {cart}, owned by {}",
                        ring.owner(&cart)
                    );
                }
            }
            assert!(
                owned > 0,
                "{node} owns none of the {CARTS} carts: the ring is badly unbalanced"
            );
        }
    });
}

#[test]
fn a_dead_owners_carts_are_served_by_the_next_node_of_their_preflist() {
    let ring = Ring::new(NODES, VNODES);
    let cluster = start();
    block_on(async {
        let shop = Shop::new(&cluster);
        // Healthy first: every cart reaches its owner.
        for cart in carts() {
            let added = shop.add("n1", &cart, "before").await;
            assert_eq!(
                added.by,
                ring.owner(&cart),
                "cart {cart} was served by {}, not by its owner",
                added.by
            );
        }

        // The owner of cart 42 dies. Its carts move to the next node of their preference
        // list; every other cart stays where it was.
        let dead = ring.owner("42").to_string();
        cluster.kill(&dead).expect("kill the owner of cart 42");
        let alive: Vec<&str> = NODES.into_iter().filter(|n| *n != dead).collect();
        for cart in carts() {
            let owner = ring.owner(&cart);
            let expected = if owner == dead {
                let next = ring.preflist(&cart, 3, |_| true)[1].node.clone();
                assert_eq!(
                    ring.preflist(&cart, 3, |node| node != dead)[0].node,
                    next,
                    "with {dead} down, cart {cart}'s preflist must start with the next node after it"
                );
                next
            } else {
                owner.to_string()
            };
            for via in &alive {
                let started = Instant::now();
                let added = shop.add(via, &cart, &format!("after-{via}")).await;
                assert_eq!(
                    added.by, expected,
                    "with {dead} killed, cart {cart} (owner {owner}) added through {via} was served by {}; expected {expected}, the first node of its preference list that is up",
                    added.by
                );
                assert!(
                    started.elapsed() < FAILOVER_LIMIT,
                    "cart {cart} took {:?} to fail over",
                    started.elapsed()
                );
            }
            let read = shop.get(alive[0], &cart).await;
            assert_eq!(read.by, expected, "cart {cart} was read from {}", read.by);
            // A fallback starts from an empty cart: the owner's copy died with it (carts live
            // in memory, in one copy; exercise 09 keeps replicas).
            let expected_items: Vec<String> = (owner != dead)
                .then(|| "before".to_string())
                .into_iter()
                .chain(alive.iter().map(|via| format!("after-{via}")))
                .collect();
            assert_eq!(read.cart.items, expected_items, "cart {cart}");
        }
    });
}

/// The three nodes of this crate's binary.
fn start() -> Cluster {
    let cluster = Cluster::builder(harness::node_bin!())
        .nodes(NODES.len())
        .start()
        .expect("the cluster starts");
    assert_eq!(
        cluster.ids(),
        NODES,
        "the harness names its nodes n1, n2, n3"
    );
    cluster
}

fn carts() -> impl Iterator<Item = String> {
    (1..=CARTS).map(|i| i.to_string())
}

/// A client of the shop that can ask any node, and see which node served it.
struct Shop<'a> {
    cluster: &'a Cluster,
    nodes: HashMap<String, NodeHttp>,
}

/// An answer to a cart request, and the node that served it.
struct Served {
    cart: Cart,
    by: String,
}

impl<'a> Shop<'a> {
    fn new(cluster: &'a Cluster) -> Shop<'a> {
        let nodes = NODES
            .iter()
            .map(|id| (id.to_string(), cluster.http(id)))
            .collect();
        Shop { cluster, nodes }
    }

    /// Adds `item` to `cart` through node `via`.
    async fn add(&self, via: &str, cart: &str, item: &str) -> Served {
        let add = AddItem {
            request_id: format!("{cart}-{item}"),
            item: item.to_string(),
        };
        let answer = self.nodes[via].carts().add(cart, &add).await;
        self.served(answer, &format!("the add to cart {cart} through {via}"))
            .await
    }

    /// Reads `cart` through node `via`.
    async fn get(&self, via: &str, cart: &str) -> Served {
        let answer = self.nodes[via].carts().get(cart).await;
        self.served(answer, &format!("the read of cart {cart} through {via}"))
            .await
    }

    /// What `node` itself stores for `cart` (its internal route, with the cookie).
    async fn stored(&self, node: &str, cart: &str) -> Cart {
        let answer = self.nodes[node].internal_carts().get(cart).await;
        let what = format!("the read of {node}'s own copy of cart {cart}");
        self.cluster.expect_answer(answer, &what).await.cart
    }

    /// The cart, and who served it; a node that died on the way fails the test with its panic.
    async fn served(&self, answer: Result<Answer, CartError>, what: &str) -> Served {
        let answer = self.cluster.expect_answer(answer, what).await;
        let by = answer.header(SERVED_BY).unwrap_or("nobody").to_string();
        Served {
            cart: answer.cart,
            by,
        }
    }
}
