"""Relevance: a space's raw score mapped to a probability in [0, 1] that the item is what was asked for.

Raw cosines are not comparable across spaces (CLIP text-image ~0.3, sentence text-text ~0.7), and a
z-score against the library's own bulk is not relevance either (a library of similar photos leaves
the right photo inside the bulk). So each space's score gets a *fitted* map, per model and per kind
of query vector ("text": typed words through a text tower; "image": a photo):

    relevance = sigmoid(bias + w_raw * raw + w_gap * (raw - mean_q) + w_z * (raw - mean_q) / std_q)

`mean_q`, `std_q` are the per-query correction: the query's cosines with a fixed background set of
the space (everyday sentences for a sentence encoder; rendered scenes for an image model) that does
not depend on the library. A query that likes everything (an off-topic phrase through a text tower that
never saw its words) has a high baseline and gains nothing from it; a real match stands above it.

The coefficients are fitted by logistic regression on pairs the model can label itself
(`CalibrationData`): shipped paraphrase pairs (core/data/calibration_text_en.tsv) and mismatched
pairs for the sentence encoder; captions and renders of generated scenes for open_clip models.
Negatives carry `NEGATIVE_ODDS` times the positives' total weight, so 0.5 means "more likely a match
than not" at a realistic prior, not at 50:50. A model that cannot separate its own pairs (AUC below
`MIN_AUC`, e.g. the tiny-random test model) is marked uninformative and its relevance is capped at
`UNINFORMATIVE_CAP`, so it never makes anything look relevant. Fits are cached per model id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

VERSION = 3  # bump when the features, the data or the fit change: cached fits are redone
NEGATIVE_ODDS = 4.0
MIN_AUC = 0.75
UNINFORMATIVE_CAP = 0.2
L2 = 1e-3
RELEVANT = 0.5  # the cutoff: an item at or above it is judged a match


@dataclass(frozen=True)
class CalibrationData:
    """Labelled pairs for one space and query kind, as unit vectors.

    queries: (q, d) query vectors; items: (n, d) item vectors; positives[i]: the item rows that
    answer query i (empty for a query that should match nothing); background: (b, d) item vectors
    of the space's fixed background, for the per-query baseline.
    """

    queries: np.ndarray
    items: np.ndarray
    positives: Sequence[frozenset[int]]
    background: np.ndarray
    source: str
    ignore: Sequence[frozenset[int]] = ()  # per query: items neither right nor wrong (same topic)


@dataclass(frozen=True)
class RelevanceModel:
    """A fitted map from raw score to relevance for one (space, query kind, model)."""

    model_id: str
    kind: str
    bias: float
    w_raw: float
    w_gap: float
    w_z: float
    auc: float
    source: str
    version: int = VERSION

    @property
    def informative(self) -> bool:
        return self.auc >= MIN_AUC

    def __call__(self, raw: np.ndarray | float, baseline: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        mean, std = baseline
        z = self.bias + self.w_raw * raw + self.w_gap * (raw - mean) + self.w_z * (raw - mean) / std
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
        # Uninformative: squashed below the cap, but still monotone, so ranking follows the raw score.
        return p if self.informative else UNINFORMATIVE_CAP * p

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RelevanceModel:
        return cls(**json.loads(text))


MIN_STD = 0.02


def baseline(query: np.ndarray, background: np.ndarray) -> tuple[float, float]:
    """The per-query correction: mean and spread of the query's cosines with the space's fixed background."""
    if background.size == 0:
        return 0.0, 1.0
    scores = background @ np.asarray(query, dtype=np.float32)
    return float(np.mean(scores)), max(MIN_STD, float(np.std(scores)))


def features(data: CalibrationData, *, gap: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, weight) over every query x item pair of the calibration data (gap: the baseline feature)."""
    scores = data.queries @ data.items.T  # (q, n)
    stats = np.array([baseline(q, data.background) for q in data.queries]).reshape(-1, 2)
    labels = np.zeros_like(scores)
    for i, pos in enumerate(data.positives):
        labels[i, list(pos)] = 1.0
    raw = scores.ravel()
    gaps = (scores - stats[:, :1]).ravel() if gap else np.zeros_like(raw)
    zs = ((scores - stats[:, :1]) / stats[:, 1:]).ravel() if gap else np.zeros_like(raw)
    ignored = np.zeros_like(scores, dtype=bool)
    for i, skip in enumerate(data.ignore):
        ignored[i, list(skip)] = True
    ignored &= labels == 0
    y = labels.ravel()
    keep = ~ignored.ravel()
    n_pos = max(1.0, y.sum())
    n_neg = max(1.0, float(np.sum(keep & (y == 0))))
    weight = np.where(y > 0, 1.0 / n_pos, NEGATIVE_ODDS / n_neg) * keep
    weight *= len(y) / weight.sum()
    return np.stack([raw, gaps, zs], axis=1), y, weight


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, *, l2: float = L2, steps: int = 50) -> np.ndarray:
    """Weighted L2-regularised logistic regression by Newton's method; returns [bias, w...]."""
    design = np.hstack([np.ones((len(x), 1)), x]).astype(np.float64)
    beta = np.zeros(design.shape[1])
    reg = l2 * np.eye(design.shape[1])
    reg[0, 0] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -50, 50)))
        grad = design.T @ (weight * (p - y)) + reg @ beta
        hess = (design * (weight * p * (1 - p))[:, None]).T @ design + reg
        step = np.linalg.solve(hess + 1e-9 * np.eye(len(beta)), grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (rank statistic); 0.5 when one class is missing."""
    pos = scores[y > 0]
    neg = scores[y <= 0]
    if len(pos) == 0 or len(neg) == 0:
        return 0.5
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def fit(data: CalibrationData, *, model_id: str, kind: str, gap: bool = True) -> RelevanceModel:
    """Fit the relevance map of one space and query kind on its labelled pairs."""
    x, y, w = features(data, gap=gap)
    beta = fit_logistic(x, y, w)
    separation = auc(x @ beta[1:], y)
    model = RelevanceModel(
        model_id, kind, float(beta[0]), float(beta[1]), float(beta[2]), float(beta[3]), separation, data.source
    )
    log.info(
        "relevance for %s (%s queries) fitted on %s: bias %.2f, raw %.2f, gap %.2f, z %.2f, AUC %.3f%s",
        model_id, kind, data.source, model.bias, model.w_raw, model.w_gap, model.w_z, separation,
        "" if model.informative else " (uninformative: capped)",
    )
    return model


class RelevanceCache:
    """Fitted maps on disk (one JSON file each, keyed by space, query kind and model id)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _path(self, space: str, kind: str, model_id: str, gap: bool) -> Path | None:
        if self.directory is None:
            return None
        import hashlib

        digest = hashlib.sha256(f"{VERSION}:{space}:{kind}:{gap}:{model_id}".encode()).hexdigest()[:16]
        return self.directory / f"{space}-{kind}-{digest}.json"

    def get_or_fit(
        self, space: str, kind: str, model_id: str, make_data: Callable[[], CalibrationData], *, gap: bool = True
    ) -> tuple[RelevanceModel, np.ndarray]:
        """The cached map and background of (space, kind, model), fitted now if missing or stale."""
        path = self._path(space, kind, model_id, gap)
        if path is not None and path.exists():
            try:
                model = RelevanceModel.from_json(path.read_text(encoding="utf-8"))
                background = np.load(path.with_suffix(".npy"), allow_pickle=False)
                if model.version == VERSION and model.model_id == model_id and model.kind == kind:
                    return model, background.astype(np.float32)
            except (OSError, ValueError, TypeError, KeyError) as e:
                log.warning("refitting the relevance map %s: %s", path, e)
        data = make_data()
        model = fit(data, model_id=model_id, kind=kind, gap=gap)
        if path is not None:
            import io

            from mmexplorer.core.fsutil import atomic_write

            path.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            np.save(buffer, data.background.astype(np.float32), allow_pickle=False)
            atomic_write(path.with_suffix(".npy"), buffer.getvalue())
            atomic_write(path, model.to_json().encode("utf-8"))
        return model, data.background


def uninformative(model: RelevanceModel) -> RelevanceModel:
    """The same map, marked as carrying no evidence (for models whose similarities mean nothing)."""
    from dataclasses import replace

    return replace(model, auc=min(model.auc, 0.5))


def noisy_or(values: Sequence[Any]) -> Any:
    """1 - prod(1 - v) over pieces of evidence in [0, 1] (floats, or numpy arrays of one shape, fused
    elementwise): stays in [0, 1] and grows with each independent piece. core.evidence.fuse uses it."""
    parts = [np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0) for v in values]
    if not parts:
        return 0.0
    out = 1.0 - np.prod([1.0 - p for p in parts], axis=0)
    return float(out) if np.ndim(out) == 0 else out
