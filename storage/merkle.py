"""RFC 6962 Merkle trees over the custody log.

Leaves are the events' hashes in seq order: leaf = SHA-256(0x00 || event hash bytes), node =
SHA-256(0x01 || left || right); a tree of n leaves splits at the largest power of two below n
(RFC 6962 section 2.1). Functions here take leaf hashes (bytes, from `leaf_hash`); index is
seq - 1.

A `Frontier` holds the roots of the perfect subtrees of the first `count` leaves (one per set
bit of count, largest first), which is all that is needed to add leaves and compute the root:
a checkpoint hashes only the events added since the previous one.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(event_hash_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(event_hash_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than size (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def root(leaves: list[bytes]) -> bytes:
    """MTH of the leaves."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.add(leaf)
    return frontier.root()


def _ranges(index: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """The leaf ranges [a, b) whose roots form the audit path of `index` in leaves [lo, hi),
    bottom first (RFC 6962 PATH)."""
    path = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo = lo + k
    return path[::-1]


def inclusion_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """Audit path of leaves[index] in the tree of all the leaves, bottom first."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    return [root(leaves[a:b]) for a, b in _ranges(index, 0, len(leaves))]


def root_from_proof(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """The root that `proof` makes of `leaf` at `index` in a tree of `size` leaves (RFC 9162
    section 2.1.3.2); ValueError if the proof has the wrong length for that position."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("proof too short")
    return result


class Frontier:
    """The perfect subtree roots of a growing tree (a binary counter of subtrees)."""

    def __init__(self, count: int = 0, nodes: Iterable[bytes] = ()):
        self.count = count
        self.nodes = list(nodes)
        if len(self.nodes) != count.bit_count():
            raise ValueError(f"a frontier of {count} leaves has {count.bit_count()} nodes, not {len(self.nodes)}")

    @classmethod
    def from_hex(cls, count: int, nodes: list[str]) -> "Frontier":
        return cls(count, [bytes.fromhex(node) for node in nodes])

    def to_hex(self) -> list[str]:
        return [node.hex() for node in self.nodes]

    def add(self, leaf: bytes) -> None:
        nodes, count = self.nodes, self.count
        nodes.append(leaf)
        while count & 1:  # each trailing 1 bit is a subtree of the new leaf's size: merge them
            right = nodes.pop()
            nodes[-1] = node_hash(nodes[-1], right)
            count >>= 1
        self.count += 1

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        result = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            result = node_hash(node, result)
        return result

    def copy(self) -> "Frontier":
        return Frontier(self.count, self.nodes)


class ProofCollector:
    """Inclusion proofs of several leaves in the first `size` leaves, in one streaming pass that
    keeps only the subtree roots the proofs need (never all the leaves)."""

    def __init__(self, indexes: Iterable[int], size: int):
        self.size = size
        self.paths = {}
        for index in set(indexes):
            if not 0 <= index < size:
                raise IndexError(f"leaf {index} is not in a tree of {size}")
            self.paths[index] = _ranges(index, 0, size)
        self._wanted = {part for path in self.paths.values() for a, b in path for part in _perfect(a, b)}
        self._found: dict[tuple[int, int], bytes] = {}
        self._stack: list[tuple[int, int, bytes]] = []  # (start, width, root)
        self._count = 0

    def add(self, leaf: bytes) -> None:
        if self._count >= self.size:
            raise ValueError(f"more than {self.size} leaves")
        stack, start, width, node = self._stack, self._count, 1, leaf
        self._keep(start, width, node)
        while stack and stack[-1][1] == width:
            left_start, _, left = stack.pop()
            start, width, node = left_start, width * 2, node_hash(left, node)
            self._keep(start, width, node)
        stack.append((start, width, node))
        self._count += 1

    def _keep(self, start: int, width: int, node: bytes) -> None:
        if (start, width) in self._wanted:
            self._found[(start, width)] = node

    def proofs(self) -> dict[int, list[bytes]]:
        if self._count != self.size:
            raise ValueError(f"{self._count} leaves added, the tree has {self.size}")
        return {index: [self._range_root(a, b) for a, b in path] for index, path in self.paths.items()}

    def _range_root(self, a: int, b: int) -> bytes:
        parts = [self._found[part] for part in _perfect(a, b)]
        result = parts[-1]
        for part in reversed(parts[:-1]):
            result = node_hash(part, result)
        return result


def _perfect(a: int, b: int) -> list[tuple[int, int]]:
    """The aligned perfect subtrees (start, width) whose right fold is MTH(leaves[a:b]), largest
    first. Ranges of a PATH always start at a multiple of the widest of them."""
    parts, start, remaining = [], a, b - a
    while remaining:
        width = 1 << (remaining.bit_length() - 1)
        parts.append((start, width))
        start, remaining = start + width, remaining - width
    return parts
