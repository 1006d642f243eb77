//! The Merkle tree of RFC 9162 §2.1: its hash, inclusion proofs and
//! consistency proofs, generated from stored hashes and verified.
//!
//! A tree of `n` leaves is split at the largest power of two below `n`, so
//! every tree is a row of *complete* subtrees, each `2^level` leaves starting
//! at a multiple of `2^level` (a [`NodeId`]). Those nodes never change once
//! their last leaf is appended; a store keeps them (every node: `2n − 1`
//! hashes, or tiles of them) and answers [`HashSource::node`] with one lookup.
//!
//! Generation works in two steps, so that a store can fetch in one query:
//! [`inclusion_plan`] / [`consistency_plan`] say which nodes a proof needs
//! ([`ProofPlan::nodes`]), and [`ProofPlan::assemble`] hashes them into the
//! proof. A proof needs at most `2⌈log2 n⌉` nodes: every element but one is a
//! complete subtree, and the one that is not (the right edge of the tree) is
//! at most `⌈log2 n⌉` of them. [`inclusion_proof`], [`consistency_proof`] and
//! [`root_hash`] do both steps against a [`HashSource`].
//!
//! Appending needs only the tree's *frontier* ([`frontier`]: the complete
//! subtrees the tree splits into, at most 64): [`append_leaf`] returns every
//! node the new leaf completes, and [`root_from_frontier`] the root.
//!
//! [`verify_inclusion`] and [`verify_consistency`] are the algorithms of
//! RFC 9162 §2.1.3.2 and §2.1.4.2, with the proof's length checked first so
//! that a short or long proof is named as such.

use crate::hash::{empty_root, leaf_hash, node_hash, Hash};

/// A complete subtree: the `2^level` leaves from `index << level`. Level 0
/// is a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub fn leaf(index: u64) -> NodeId {
        NodeId { level: 0, index }
    }

    /// The first leaf the subtree covers.
    pub fn start(&self) -> u64 {
        self.index << self.level
    }

    /// The number of leaves it covers.
    pub fn width(&self) -> u64 {
        1u64 << self.level
    }
}

/// Why a proof cannot be made or does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error(
        "a consistency proof from an empty tree proves nothing: the older size must be at least 1"
    )]
    OldSizeZero,
    #[error("the older tree ({old} leaves) is larger than the newer ({new})")]
    OldSizeLarger { old: u64, new: u64 },
    #[error("the proof has {got} hashes; these sizes need exactly {expected}")]
    WrongProofLength { expected: usize, got: usize },
    #[error("the inclusion proof does not lead from the leaf to the root")]
    RootMismatch,
    #[error("the consistency proof does not lead to the older tree's root")]
    OldRootMismatch,
    #[error("the consistency proof does not lead to the newer tree's root")]
    NewRootMismatch,
    #[error("the two roots differ for the same tree size")]
    SameSizeRootsDiffer,
    #[error("{got} hashes were given for a plan of {expected} nodes")]
    HashCount { expected: usize, got: usize },
    #[error("the frontier of a tree of {size} leaves has {expected} hashes, not {got}")]
    FrontierLength {
        size: u64,
        expected: usize,
        got: usize,
    },
    #[error("the tree is full")]
    TreeFull,
}

/// Where proof generation reads stored hashes.
///
/// `node` answers a complete subtree ([`NodeId`]); a source that keeps every
/// node (or tiles of them) answers each with one lookup, and then a proof
/// costs at most `2⌈log2 n⌉` lookups: for 2,000,000 leaves, 42. A source that
/// keeps only leaves may compute a node from them, but then should cache: a
/// node high in the tree covers a million leaves.
pub trait HashSource {
    type Error;
    fn node(&self, id: NodeId) -> Result<Hash, Self::Error>;
}

/// A proof failed to generate: the request was wrong, or the source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError<E> {
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("reading the tree's hashes: {0}")]
    Source(E),
}

/// The stored nodes a proof needs, and how to hash them into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofPlan {
    nodes: Vec<NodeId>,
    /// For each proof hash in order, how many consecutive `nodes` fold into it.
    groups: Vec<usize>,
}

impl ProofPlan {
    fn from_ranges(ranges: &[(u64, u64)]) -> ProofPlan {
        let mut nodes = Vec::new();
        let mut groups = Vec::with_capacity(ranges.len());
        for &(lo, hi) in ranges {
            let before = nodes.len();
            range_nodes(lo, hi, &mut nodes);
            groups.push(nodes.len() - before);
        }
        ProofPlan { nodes, groups }
    }

    /// The nodes to fetch, in the order [`ProofPlan::assemble`] takes their
    /// hashes. Some may repeat.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The number of hashes in the proof.
    pub fn proof_len(&self) -> usize {
        self.groups.len()
    }

    /// The proof, from the hashes of [`ProofPlan::nodes`] in their order.
    pub fn assemble(&self, hashes: &[Hash]) -> Result<Vec<Hash>, ProofError> {
        if hashes.len() != self.nodes.len() {
            return Err(ProofError::HashCount {
                expected: self.nodes.len(),
                got: hashes.len(),
            });
        }
        let mut proof = Vec::with_capacity(self.groups.len());
        let mut at = 0;
        for &count in &self.groups {
            proof.push(fold_right(&hashes[at..at + count]));
            at += count;
        }
        Ok(proof)
    }

    /// Fetches the nodes from `source` and assembles the proof.
    pub fn fetch<S: HashSource>(&self, source: &S) -> Result<Vec<Hash>, GenerateError<S::Error>> {
        let hashes = self
            .nodes
            .iter()
            .map(|&id| source.node(id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(GenerateError::Source)?;
        Ok(self.assemble(&hashes)?)
    }
}

/// The hash of a row of complete subtrees, largest first: each is the left
/// child of the fold of those after it (the tree's shape, RFC 9162 §2.1.1).
fn fold_right(hashes: &[Hash]) -> Hash {
    let (last, rest) = hashes.split_last().expect("a group is never empty");
    rest.iter()
        .rev()
        .fold(*last, |acc, left| node_hash(left, &acc))
}

/// The largest power of two strictly below `n` (`n >= 2`): where RFC 9162
/// splits a tree of `n` leaves.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Appends the complete subtrees that make up the range `[lo, hi)`, largest
/// first. For the ranges the tree is made of (`lo` a multiple of the power
/// of two at or above `hi - lo`, or 0) these are exactly the subtrees RFC
/// 9162's recursion reaches, so [`fold_right`] over them is the range's hash.
pub(crate) fn range_nodes(lo: u64, hi: u64, out: &mut Vec<NodeId>) {
    let mut at = lo;
    while at < hi {
        let mut level = 63 - (hi - at).leading_zeros();
        if at != 0 {
            level = level.min(at.trailing_zeros());
        }
        out.push(NodeId {
            level: level as u8,
            index: at >> level,
        });
        at += 1u64 << level;
    }
}

/// The ranges whose hashes form the inclusion proof of leaf `index` within
/// the subtree `[start, end)`, nearest the leaf first (RFC 9162 §2.1.3.1,
/// `PATH`).
pub(crate) fn inclusion_ranges(index: u64, start: u64, end: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi) = (start, end);
    let mut siblings = Vec::new();
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            siblings.push((lo + k, hi));
            hi = lo + k;
        } else {
            siblings.push((lo, lo + k));
            lo += k;
        }
    }
    siblings.reverse();
    siblings
}

/// The ranges whose hashes form the consistency proof from the subtree
/// `[start, end)` to the tree of `size` leaves, nearest the subtree first.
/// With `start == 0` this is RFC 9162 §2.1.4.1's `SUBPROOF(end, D[size], true)`;
/// other starts are the generalisation the subtree test vectors use.
pub(crate) fn consistency_ranges(start: u64, end: u64, size: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    if start == end {
        return out;
    }
    let (mut start, mut lo, mut hi) = (start, 0, size);
    let mut known = true;
    loop {
        if start == lo && end == hi {
            if !known {
                out.push((lo, hi));
            }
            break;
        }
        let k = lo + split(hi - lo);
        if end <= k {
            out.push((k, hi));
            hi = k;
        } else if k <= start {
            out.push((lo, k));
            lo = k;
        } else {
            // The split falls inside the subtree, so it starts at `lo`: the
            // left half is shared, and the rest of the subtree is not itself
            // a root the verifier knows.
            out.push((lo, k));
            lo = k;
            start = k;
            known = false;
        }
    }
    out.reverse();
    out
}

/// The nodes an inclusion proof of leaf `index` in the tree of `size` leaves
/// is made of.
pub fn inclusion_plan(index: u64, size: u64) -> Result<ProofPlan, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    Ok(ProofPlan::from_ranges(&inclusion_ranges(index, 0, size)))
}

/// The nodes a consistency proof from the tree of `old` leaves to the tree
/// of `new` leaves is made of; empty when the sizes are equal.
pub fn consistency_plan(old: u64, new: u64) -> Result<ProofPlan, ProofError> {
    check_sizes(old, new)?;
    Ok(ProofPlan::from_ranges(&consistency_ranges(0, old, new)))
}

fn check_sizes(old: u64, new: u64) -> Result<(), ProofError> {
    if old == 0 {
        return Err(ProofError::OldSizeZero);
    }
    if old > new {
        return Err(ProofError::OldSizeLarger { old, new });
    }
    Ok(())
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof<S: HashSource>(
    source: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, GenerateError<S::Error>> {
    inclusion_plan(index, size)?.fetch(source)
}

/// The consistency proof from the tree of `old` leaves to that of `new`.
pub fn consistency_proof<S: HashSource>(
    source: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, GenerateError<S::Error>> {
    consistency_plan(old, new)?.fetch(source)
}

/// The complete subtrees the tree of `size` leaves splits into, largest
/// (leftmost) first: one per bit set in `size`.
pub fn frontier(size: u64) -> Vec<NodeId> {
    let mut out = Vec::with_capacity(size.count_ones() as usize);
    range_nodes(0, size, &mut out);
    out
}

/// The root of a tree from the hashes of its [`frontier`], in order; the
/// empty tree's root for none.
pub fn root_from_frontier(hashes: &[Hash]) -> Hash {
    if hashes.is_empty() {
        empty_root()
    } else {
        fold_right(hashes)
    }
}

/// The root of the tree of `size` leaves.
pub fn root_hash<S: HashSource>(source: &S, size: u64) -> Result<Hash, S::Error> {
    let hashes = frontier(size)
        .into_iter()
        .map(|id| source.node(id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(root_from_frontier(&hashes))
}

/// Appends `leaf` (a leaf hash) to the tree of `size` leaves whose
/// [`frontier`] hashes are `frontier_hashes`. Returns every node the leaf
/// completes, the leaf itself first, each level up after; the new tree's
/// frontier is the old one less the nodes merged, plus the last returned.
pub fn append_leaf(
    size: u64,
    frontier_hashes: &[Hash],
    leaf: Hash,
) -> Result<Vec<(NodeId, Hash)>, ProofError> {
    let expected = size.count_ones() as usize;
    if frontier_hashes.len() != expected {
        return Err(ProofError::FrontierLength {
            size,
            expected,
            got: frontier_hashes.len(),
        });
    }
    if size == u64::MAX {
        return Err(ProofError::TreeFull);
    }
    let mut out = vec![(NodeId::leaf(size), leaf)];
    let (mut hash, mut index, mut level) = (leaf, size, 0u8);
    let mut left = frontier_hashes.iter().rev();
    // The frontier's smallest subtrees sit at `size`'s lowest set bits; the
    // new leaf merges with each one while that bit is set.
    while index & 1 == 1 {
        let sibling = left.next().expect("one frontier hash per set bit");
        hash = node_hash(sibling, &hash);
        index >>= 1;
        level += 1;
        out.push((NodeId { level, index }, hash));
    }
    Ok(out)
}

/// Checks that `proof` shows leaf hash `leaf` at `index` in the tree of
/// `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                got: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 || r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut lo, mut hi, mut len) = (0, size, 0);
    while hi - lo > 1 {
        let k = lo + split(hi - lo);
        if index < k {
            hi = k;
        } else {
            lo = k;
        }
        len += 1;
    }
    len
}

/// Checks that `proof` shows the tree of `old` leaves with root `old_root`
/// to be a prefix of the tree of `new` leaves with root `new_root` (RFC 9162
/// §2.1.4.2). Equal sizes need an empty proof and equal roots; an older size
/// of 0 is refused (every tree extends the empty one, so it proves nothing).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    check_sizes(old, new)?;
    let expected = consistency_ranges(0, old, new).len();
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    if old == new {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::SameSizeRootsDiffer)
        };
    }
    // 2: a power-of-two old tree is a node of the new one; its root starts
    // the path.
    let mut path = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    // 3, 4
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // 5, 6
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                got: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    // 7
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root || s != 0 {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

/// A tree held in memory with every complete node, level by level: the
/// reference [`HashSource`] for tests, and a model of what a store keeps.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

/// [`MemoryTree`] has no such node (the tree is smaller than asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no node at level {} index {}: the tree is too small", .0.level, .0.index)]
pub struct MissingNode(pub NodeId);

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends an entry (hashed as a leaf) and returns its index.
    pub fn append(&mut self, data: &[u8]) -> u64 {
        self.append_leaf_hash(leaf_hash(data))
    }

    /// Appends a leaf hash and returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        let (mut hash, mut at, mut level) = (leaf, index, 0usize);
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
            if at & 1 == 0 {
                break;
            }
            hash = node_hash(&self.levels[level][at as usize - 1], &hash);
            at >>= 1;
            level += 1;
        }
        index
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        root_hash(self, self.size()).expect("a tree has its own frontier")
    }
}

impl HashSource for MemoryTree {
    type Error = MissingNode;

    fn node(&self, id: NodeId) -> Result<Hash, MissingNode> {
        self.levels
            .get(usize::from(id.level))
            .and_then(|level| level.get(usize::try_from(id.index).ok()?))
            .copied()
            .ok_or(MissingNode(id))
    }
}

#[cfg(test)]
mod tests;
