"""The similarity matrix of a selection: every pair of items scored and fused the way search does."""

from __future__ import annotations

import numpy as np

from mmexplorer.core import evidence
from mmexplorer.core.catalog import Catalog
from mmexplorer.core.errors import UsageError
from mmexplorer.core.search import Searcher, via_of_chunk
from mmexplorer.core.spaces import Spaces
from mmexplorer.core.types import FusionWeights

#: The most items a similarity matrix is made for (a selection in the window).
MATRIX_MAX = 200


def similarity_matrix(
    catalog: Catalog,
    spaces: Spaces,
    searcher: Searcher,
    ids: list[int],
    weights: FusionWeights,
    *,
    calibrated: bool = True,
) -> np.ndarray:
    """Engine.similarity_matrix: per shared space, calibrated cosines; fused per pair as search fuses.

    Args:
        catalog, spaces, searcher: the library's.
        ids: up to MATRIX_MAX distinct indexed item ids, in the order of the rows.
        weights: the fusion weights.
        calibrated: False gives the raw cosines (clipped to [0, 1]), the best space per pair.
    """
    n = len(ids)
    if n > MATRIX_MAX:
        raise UsageError(f"a similarity matrix is made for at most {MATRIX_MAX} items, not {n}")
    if len(set(ids)) != n:
        raise UsageError("the items of a similarity matrix must be distinct")
    rows = catalog.items(ids)
    missing = [i for i in ids if i not in rows]
    if missing:
        raise UsageError(f"no item with id {missing[0]}")
    where = {item_id: pos for pos, item_id in enumerate(ids)}
    chunk_ids = catalog.chunk_ids_of(ids)
    chunk_rows = catalog.chunks(vid for _s, vid in chunk_ids)
    owners = {c.id: c.item_id for c in chunk_rows.values()}
    relevance_of: dict[str, np.ndarray] = {}  # per space: relevance of each pair, (n, n)
    via_of: dict[str, list[str | None]] = {}  # per space: each item's kind of evidence there (None: absent)
    for space in spaces.values():
        index = space.index()
        mine = [vid for s, vid in chunk_ids if s == space.key.value and vid in owners]
        if index is None or not mine:
            continue
        vectors = index.reconstruct(np.asarray(mine, dtype=np.int64))
        members: dict[int, list[int]] = {}
        for row, vid in enumerate(mine):
            members.setdefault(where[owners[vid]], []).append(row)
        have = sorted(members)
        vias: list[str | None] = [None] * n
        for p in have:
            vias[p] = via_of_chunk(rows[ids[p]].modality, chunk_rows[mine[members[p][0]]])
        v = np.stack([vectors[members[p]].mean(axis=0) for p in have]).astype(np.float64)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        cos = v @ v.T
        full = np.zeros((n, n), dtype=np.float64)
        if not calibrated:
            full[np.ix_(have, have)] = np.clip(cos, 0.0, 1.0)
        else:
            kind = "image" if space.takes_images else "text"
            relevance = np.stack(
                [searcher.scorer(space, v[r].astype(np.float32), kind, vias[p])(cos[r]) for r, p in enumerate(have)]
            )
            full[np.ix_(have, have)] = np.clip((relevance + relevance.T) / 2, 0.0, 1.0)
        relevance_of[space.key.value] = full
        via_of[space.key.value] = vias
    parts = []
    for key, full in relevance_of.items():
        if calibrated:
            # Evidence read from other evidence (two captions) counts as far as its source (the two
            # photos' pixels) supports it, as in search (core.evidence).
            for kind in evidence.EVIDENCE.values():
                src = kind.source
                if kind.space != key or src is None or src[0] not in relevance_of:
                    continue
                if not searcher.informative(spaces[src[0]], "image" if spaces[src[0]].takes_images else "text"):
                    continue
                derived = np.array([x == kind.via for x in via_of[key]])
                source = np.array([x == src[1] for x in via_of[src[0]]])
                pair = np.outer(derived & source, derived & source)
                full = np.where(pair, full * evidence.support(relevance_of[src[0]]), full)
        parts.append(full * (min(1.0, max(0.0, weights.for_space(key))) if calibrated else 1.0))
    rule = searcher.rule if calibrated else "max"
    out = np.asarray(evidence.fuse(parts, rule=rule), dtype=np.float64) if parts else np.zeros((n, n))
    np.fill_diagonal(out, 1.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
