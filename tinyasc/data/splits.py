"""Splits that keep a group (a speaker, a source recording) on one side.

A dataset's official split often has train and test only (spoken-digit and command corpora, many
Kaggle-style CSVs). Training needs a validation split for early stopping and the best checkpoint, so
`carve_validation` takes about VAL_FRACTION of the train rows: whole groups when the CSV has one of
GROUP_COLUMNS, otherwise a share of each label. Carving whole groups matters: with one speaker's
clips on both sides, validation accuracy measures memorised voices, not words.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

VAL_FRACTION = 0.15
# Columns naming what must not straddle a split, most specific first. The first one present is used.
GROUP_COLUMNS = ("speaker", "speaker_id", "recording", "recording_id", "source", "source_id", "session",
                 "location", "fold")


def group_column(header: Sequence[str]) -> str | None:
    """The first of GROUP_COLUMNS in the CSV header, or None."""
    return next((c for c in GROUP_COLUMNS if c in header), None)


def pick_groups(groups: Sequence[Hashable], sizes: dict, fraction: float, rng: np.random.Generator) -> set:
    """Whole groups, in a seeded random order, until they hold at least `fraction` of all rows.

    `groups` lists each group once (order of first appearance, so the result depends only on the
    data and the seed); `sizes[g]` is its row count. At least one group is picked, and at least one
    is left over.
    """
    if len(groups) < 2:
        return set()
    target = fraction * sum(sizes[g] for g in groups)
    picked, count = set(), 0
    for index in rng.permutation(len(groups)):
        if count >= target or len(picked) == len(groups) - 1:
            break
        picked.add(groups[index])
        count += sizes[groups[index]]
    return picked


def carve_validation(rows: list[dict[str, str]], group_key: str | None, seed: int = 0) -> str:
    """Move ~VAL_FRACTION of the rows with split "train" to split "val", in place; return one line
    for the log saying how many clips moved and how they were grouped.

    group_key: the row key holding each clip's group (a GROUP_COLUMNS column), or None to take a
    share of each label instead (stratified). Deterministic: the same rows give the same split.
    """
    train = [row for row in rows if row["split"] == "train"]
    rng = np.random.default_rng(seed)
    groups = list(dict.fromkeys(row[group_key] for row in train)) if group_key else []
    if len(groups) >= 2:
        sizes: dict[str, int] = {}
        for row in train:
            sizes[row[group_key]] = sizes.get(row[group_key], 0) + 1
        val_groups = pick_groups(groups, sizes, VAL_FRACTION, rng)
        for row in train:
            if row[group_key] in val_groups:
                row["split"] = "val"
        moved = sum(sizes[g] for g in val_groups)
        return (f"no validation rows: carved {moved} of {len(train)} train clips into 'val', "
                f"whole {group_key} groups ({len(val_groups)} of {len(groups)})")
    moved = _carve_per_label(train, rng)
    why = f" (one {group_key} only: cannot group)" if group_key else ""
    return (f"no validation rows: carved {moved} of {len(train)} train clips into 'val', "
            f"stratified by label{why}")


def _carve_per_label(train: list[dict[str, str]], rng: np.random.Generator) -> int:
    """VAL_FRACTION of each label's train rows (one at least, when the label has two) to "val"."""
    by_label: dict[str, list[dict[str, str]]] = {}
    for row in train:
        by_label.setdefault(row["label"], []).append(row)
    moved = 0
    for label_rows in by_label.values():
        count = max(1, round(len(label_rows) * VAL_FRACTION)) if len(label_rows) >= 2 else 0
        for index in rng.permutation(len(label_rows))[:count]:
            label_rows[index]["split"] = "val"
        moved += count
    return moved
