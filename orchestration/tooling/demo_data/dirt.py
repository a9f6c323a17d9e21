"""The dirt real extracts carry: late arrivals, exact duplicates, deletions and undeletions.

An object's rows are kept as ``Parts``: the simulated frames followed by small frames of extra rows
(tombstones, duplicates). Dirt appends parts or replaces the ``day`` arrays, and never copies the big
simulated frames, which at scale L hold tens of millions of rows.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from .frame import Frame, concat

LATE_SHARE = 0.015
LATE_MAX_DAYS = 5
DUPLICATE_SHARE = 0.005
#: Minimum gap between a record's last version and its tombstone (one minute, in days).
_GAP = 1.0 / 1440

#: The rows of one object, in order: simulated frames, then extra rows.
Parts = list[Frame]


def n_rows(parts: Parts) -> int:
    return sum(len(p) for p in parts)


def day_of(parts: Parts) -> np.ndarray:
    return np.concatenate([p.day for p in parts])


def version_of(parts: Parts) -> np.ndarray:
    return np.concatenate([p.version() for p in parts])


def take_rows(parts: Parts, idx: np.ndarray) -> Frame:
    """Rows at positions ``idx`` (in that order) of the concatenation of ``parts``, as one frame."""
    bounds = np.cumsum([0] + [len(p) for p in parts])
    which = np.searchsorted(bounds, idx, side="right") - 1
    pieces, where = [], []
    for k, p in enumerate(parts):
        sel = np.flatnonzero(which == k)
        if len(sel):
            pieces.append(p.take(idx[sel] - bounds[k]))
            where.append(sel)
    if not pieces:
        return parts[0].take(np.zeros(0, np.int64))
    out = concat(pieces)
    if len(pieces) == 1:
        return out
    pos = np.concatenate(where)
    return out if (pos[1:] > pos[:-1]).all() else out.take(np.argsort(pos, kind="stable"))


def _with_days(parts: Parts, day: np.ndarray) -> Parts:
    bounds = np.cumsum([0] + [len(p) for p in parts])
    return [Frame(p.obj, p.cols, day[bounds[k] : bounds[k + 1]], p.entity) for k, p in enumerate(parts)]


def make_late(rng: np.random.Generator, parts: Parts, days: int) -> Parts:
    """Some rows land in an extract days after their SystemModstamp (versioned objects only)."""
    n = n_rows(parts)
    if parts[0].obj.version_field is None or not n:
        return parts
    late = rng.random(n) < LATE_SHARE
    delay = rng.integers(1, LATE_MAX_DAYS + 1, n)
    day = day_of(parts)
    return _with_days(parts, np.maximum(np.where(late, np.minimum(day + delay, days - 1), day), day))


def add_duplicates(rng: np.random.Generator, parts: Parts, days: int) -> Parts:
    """The same row sent twice: in the same extract, or (versioned objects) in a later one.

    Unversioned objects are resolved by "latest extract wins", so an old copy in a later extract would
    undo a change; their duplicates stay in the same extract.
    """
    n = n_rows(parts)
    if not n:
        return parts
    picked = np.flatnonzero(rng.random(n) < DUPLICATE_SHARE)
    copy = take_rows(parts, picked)
    if copy.obj.version_field is not None:
        shift = rng.choice(np.array([0, 0, 1, 2, 3]), len(picked))
        # Never into the window from beyond it: a row stamped after the last extract is in none.
        later = np.maximum(np.minimum(copy.day + shift, days - 1), copy.day)
        copy = Frame(copy.obj, copy.cols, later, copy.entity)
    return [*parts, copy]


def latest_version(parts: Parts, n_entities: int) -> np.ndarray:
    """Latest version time per entity (NaN if the entity has no rows)."""
    out = np.full(n_entities, -np.inf)
    for p in parts:
        np.maximum.at(out, p.entity, p.version())
    return np.where(np.isinf(out), np.nan, out)


def tombstones(parts: Parts, when_by_entity: np.ndarray, deleted: bool) -> Frame:
    """For every entity with a time: its latest version per Id again, with IsDeleted and a new stamp."""
    # Only the (few) rows of entities with a time matter: gather them first, then work on that frame.
    frame = concat([p.take(np.flatnonzero(~np.isnan(when_by_entity[p.entity]))) for p in parts])
    if not len(frame):
        return frame
    when_row = when_by_entity[frame.entity]
    ids = cast(np.ndarray, frame.cols["Id"])  # an id field: int64 codes, never a Cat
    version = frame.version()
    order = np.lexsort((version, ids))
    picked = order[np.append(ids[order][1:] != ids[order][:-1], True)]
    stamp = np.maximum(when_row[picked], version[picked] + _GAP)
    out = frame.take(picked).with_cols(
        IsDeleted=np.full(len(picked), int(deleted), np.int8), SystemModstamp=stamp
    )
    return Frame(out.obj, out.cols, np.maximum(np.floor(stamp), 0).astype(np.int64), out.entity)


def delete_some(
    rng: np.random.Generator,
    parts: Parts,
    candidates: np.ndarray,
    n_entities: int,
    share: float,
    undelete_share: float,
) -> tuple[Parts, np.ndarray, np.ndarray]:
    """Delete a share of the candidate entities after their last change; undelete some of them later.

    Returns the parts with the tombstones and the deletion / undeletion time per entity (NaN: none).
    """
    last = latest_version(parts, n_entities)
    chosen = candidates[rng.random(len(candidates)) < share]
    chosen = chosen[~np.isnan(last[chosen])]
    deleted_at = np.full(n_entities, np.nan)
    deleted_at[chosen] = last[chosen] + rng.uniform(1, 30, len(chosen))
    back = chosen[rng.random(len(chosen)) < undelete_share]
    restored_at = np.full(n_entities, np.nan)
    restored_at[back] = deleted_at[back] + rng.uniform(1, 20, len(back))
    out = [*parts, tombstones(parts, deleted_at, True), tombstones(parts, restored_at, False)]
    return out, deleted_at, restored_at
