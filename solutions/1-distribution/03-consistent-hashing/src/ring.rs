//! The consistent-hash ring: which node owns a key, and who stands in when it is down. The
//! file you write.
//!
//! Picture every 64-bit hash on a circle. Each physical node puts many *virtual nodes*
//! (vnodes) on it, each at a *token*, the hash of the node's name and the vnode's number. A
//! key is hashed onto the same circle and belongs to the first vnode at or after that point,
//! going clockwise (past the top, back to 0). That vnode's node owns the key.
//!
//! - Adding a node adds its vnodes; each takes the keys just before it, and no other key
//!   moves: about 1/N of the keys move, all to the new node. With `hash % n`, changing n
//!   moves almost every key.
//! - Many vnodes per node cut the circle into many small arcs, so every node's share of the
//!   keys is close to 1/N, and a new node takes a little from every other node instead of a
//!   big bite from one neighbour.
//! - Going on around the circle from the key gives its *preference list*: the first n
//!   distinct nodes are the key's primaries, its owner first. For each primary that is down,
//!   the walk goes further and takes the next node that is up: a fallback.
//!
//! Every node builds the ring by itself from the names of the nodes, and all must agree, so
//! placement depends only on those names and on [`hash`], a fixed function. Never std's
//! `RandomState` (`HashMap`'s hasher): it is seeded differently in every process.

/// The vnodes per node of the lab's nodes. With tokens placed at random, a node's share of
/// the keys is off by about 1 / sqrt(vnodes) (2% here), so it takes this many for up to 8
/// nodes to hold within 1.25x of each other: the property tests measure it.
pub const VNODES: usize = 2048;

/// What a node is for a key in its preference list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// One of the first n distinct nodes clockwise from the key: where the key lives.
    Primary,
    /// A node further round that stands in for a primary that is down.
    Fallback,
}

/// One node of a preference list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefEntry {
    pub node: String,
    pub role: Role,
}

/// The ring: every node's vnodes on the circle of 64-bit hashes.
#[derive(Debug, Clone)]
pub struct Ring {
    /// The physical nodes, sorted, without duplicates: the same list on every node, in
    /// whatever order its peers were given. Vnodes name their node by its index here.
    nodes: Vec<String>,
    /// Every vnode as `(token, index into nodes)`, sorted by token: the circle read
    /// clockwise from 0. Sorted, so a lookup is a binary search.
    vnodes: Vec<(u64, usize)>,
}

impl Ring {
    /// A ring of `nodes` (duplicates ignored), each with `vnodes_per_node` vnodes.
    ///
    /// Panics on an empty node list or zero vnodes: no key could have an owner.
    pub fn new<I, S>(nodes: I, vnodes_per_node: usize) -> Ring
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut nodes: Vec<String> = nodes.into_iter().map(Into::into).collect();
        nodes.sort();
        nodes.dedup();
        assert!(!nodes.is_empty(), "a ring needs at least one node");
        assert!(vnodes_per_node > 0, "every node needs at least one vnode");
        let vnodes = place_vnodes(&nodes, vnodes_per_node);
        Ring { nodes, vnodes }
    }

    /// The node that owns `key`: the node of the first vnode at or after `hash(key)`.
    pub fn owner(&self, key: &str) -> &str {
        let (_, node) = self.vnodes[self.successor(hash(key))];
        &self.nodes[node]
    }

    /// Who holds `key`, in order: the up nodes among its first `n` distinct nodes clockwise
    /// (primaries, owner first if up), then, for each primary that is down, the next node
    /// further round that is up (fallbacks). `n` entries, or every up node if fewer are up.
    ///
    /// `up` says which nodes the caller believes are up: Riak asks its node watcher; our
    /// nodes ask their list of recently failed peers.
    pub fn preflist(&self, key: &str, n: usize, up: impl Fn(&str) -> bool) -> Vec<PrefEntry> {
        // lab:todo Walk the ring clockwise from the key: up to `n` nodes that are `up`.
        // Start at the key's successor and go once round at most, skipping nodes already seen:
        // the first `n` distinct nodes are primaries and the later ones fallbacks; keep only
        // nodes that are `up`, and stop when the list holds `n`.
        let start = self.successor(hash(key));
        let mut seen = vec![false; self.nodes.len()];
        let mut distinct = 0;
        let mut list = Vec::with_capacity(n);
        for step in 0..self.vnodes.len() {
            if list.len() == n || distinct == self.nodes.len() {
                break; // the list is full, or every node has been met
            }
            let (_, node) = self.vnodes[(start + step) % self.vnodes.len()];
            if seen[node] {
                continue; // another vnode of a node already in the list
            }
            seen[node] = true;
            distinct += 1;
            let role = if distinct <= n {
                Role::Primary
            } else {
                Role::Fallback
            };
            let name = &self.nodes[node];
            if up(name) {
                list.push(PrefEntry {
                    node: name.clone(),
                    role,
                });
            }
        }
        list
        // lab:end
    }

    /// The physical nodes, sorted.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// Every vnode as `(token, node)`, clockwise from 0. For tests, and for handing keys
    /// over when the ring changes (exercise 15).
    pub fn tokens(&self) -> impl Iterator<Item = (u64, &str)> {
        self.vnodes
            .iter()
            .map(|&(token, node)| (token, self.nodes[node].as_str()))
    }

    /// The index in `vnodes` of the first vnode whose token is at or after `point`; past the
    /// last token the circle wraps round to the first.
    fn successor(&self, point: u64) -> usize {
        // lab:todo Return the index of the first vnode whose token is at or after `point`.
        // 0 when `point` is past the last token (the circle wraps); the vnodes are sorted,
        // so binary-search them.
        self.vnodes.partition_point(|&(token, _)| token < point) % self.vnodes.len()
        // lab:end
    }
}

/// Puts `per_node` vnodes of every node on the circle: `(token, node index)`, sorted by token.
fn place_vnodes(nodes: &[String], per_node: usize) -> Vec<(u64, usize)> {
    // lab:todo Give every node `per_node` vnodes and return them all, sorted by token.
    // The i-th vnode of a node sits at the token hash("<node>#<i>"); return each as
    // (token, index of the node in `nodes`).
    let mut vnodes = Vec::with_capacity(nodes.len() * per_node);
    for (index, node) in nodes.iter().enumerate() {
        for i in 0..per_node {
            vnodes.push((hash(&format!("{node}#{i}")), index));
        }
    }
    vnodes.sort_unstable();
    vnodes
    // lab:end
}

/// Where a key or a vnode sits on the circle: FNV-1a 64 over its bytes, then MurmurHash3's
/// 64-bit finaliser, which spreads names that differ in one character (`n1#7`, `n1#8`) all
/// over the circle. The same on every node, process and platform.
pub fn hash(key: &str) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = FNV_OFFSET;
    for byte in key.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}
