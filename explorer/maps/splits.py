"""Maps of more than the test set: which image each row of a map is.

A map of the whole dataset is a map of the test codes followed by the training codes, so a
test image keeps its row (row i is test image i) and training image j is row n_test + j.
Every point is named by (split, index), never by a bare row number:

    stack({"test": mu_test, "train": mu_train}) -> (codes, Rows)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLITS: tuple[str, ...] = ("test", "train")  # the order rows are stacked in; the code of each is its position
CHOICES: dict[str, tuple[str, ...]] = {"test": ("test",), "train": ("train",), "all": SPLITS}


@dataclass(frozen=True)
class Rows:
    """Which image each row of a map is: `split[r]` (0 test, 1 train) and `index[r]` in that split."""

    split: np.ndarray  # (N,) int8, a position in SPLITS
    index: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.index)

    def counts(self) -> dict[str, int]:
        """How many rows each split has, e.g. {"test": 10000, "train": 60000}."""
        return {name: int((self.split == k).sum()) for k, name in enumerate(SPLITS) if (self.split == k).any()}

    def row(self, split: str, index: int) -> int:
        """The row of image `index` of `split` (ValueError when the map has no such image)."""
        code = SPLITS.index(split)
        hits = np.flatnonzero((self.split == code) & (self.index == int(index)))
        if not len(hits):
            raise ValueError(f"this map has no {split} image {index}")
        return int(hits[0])


def rows_of(counts: dict[str, int]) -> Rows:
    """The Rows of codes stacked from splits with these counts, in the order of SPLITS."""
    unknown = sorted(set(counts) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {', '.join(unknown)}; choose from {', '.join(SPLITS)}")
    names = [s for s in SPLITS if s in counts]
    split = np.concatenate([np.full(counts[s], SPLITS.index(s), np.int8) for s in names]) if names else np.zeros(0, np.int8)
    index = np.concatenate([np.arange(counts[s], dtype=np.int64) for s in names]) if names else np.zeros(0, np.int64)
    return Rows(split=split, index=index)


def stack(parts: dict[str, np.ndarray]) -> tuple[np.ndarray, Rows]:
    """The arrays of each split (codes, labels...) one after another in the order of SPLITS,
    with the Rows that say which image each row is."""
    rows = rows_of({s: len(a) for s, a in parts.items()})
    names = [s for s in SPLITS if s in parts]
    return np.concatenate([np.asarray(parts[s]) for s in names]), rows
