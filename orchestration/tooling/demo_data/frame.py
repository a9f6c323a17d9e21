"""Column store the simulation fills and the writer reads: one ``Frame`` per landing object.

Cells are typed by the contract field type, with cheap sentinels for null, so that the simulation stays
in numpy: ``id`` int64 codes (-1), ``string`` :class:`Cat` (dictionary codes, -1), ``timestamp`` and
``date`` float64 days since the first extract date (NaN), ``boolean`` int8 (-1), numbers float64 (NaN).
Every row also carries the extract day (0 = first extract) it lands in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pyarrow as pa

from orchestration.contract import LandingObject, get_object


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """pyarrow returns chunked arrays for large inputs; the simulation wants one flat array."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


@dataclass
class Cat:
    """A string column as dictionary codes into ``categories`` (-1 = null)."""

    codes: np.ndarray
    categories: pa.Array

    def __post_init__(self) -> None:
        # int32 codes halve the string columns' memory at scale L (tens of millions of rows).
        self.codes = np.asarray(self.codes, dtype=np.int32)

    @classmethod
    def of(cls, values: list[str] | np.ndarray | pa.Array, codes: np.ndarray) -> Cat:
        if isinstance(values, pa.Array | pa.ChunkedArray):
            cats = as_array(values)
        else:
            cats = as_array(pa.array(list(values), type=pa.string()))
        return cls(np.asarray(codes), cats)

    @classmethod
    def const(cls, value: str | None, n: int) -> Cat:
        if value is None:
            return cls(np.full(n, -1, dtype=np.int32), pa.array([], type=pa.string()))
        return cls(np.zeros(n, dtype=np.int32), pa.array([value], type=pa.string()))

    def take(self, idx: np.ndarray) -> Cat:
        return Cat(self.codes[idx], self.categories)

    def __len__(self) -> int:
        return len(self.codes)

    def to_arrow(self) -> pa.Array:
        null = self.codes < 0
        if len(self.categories) == 0:
            return pa.nulls(len(self.codes), type=pa.string())
        return self.categories.take(pa.array(np.where(null, 0, self.codes), mask=null))


Column = np.ndarray | Cat


def _concat_column(parts: list[Column]) -> Column:
    if not isinstance(parts[0], Cat):
        # A column holds one kind of cell in every frame: the first is not a Cat, so none is.
        return np.concatenate(cast(list[np.ndarray], parts))
    first = parts[0].categories
    if all(isinstance(p, Cat) and p.categories is first for p in parts):
        # Extra rows taken from a frame share its categories (e.g. a million opportunity names).
        return Cat(np.concatenate([p.codes for p in parts]), first)  # type: ignore[union-attr]
    codes, cats, offset = [], [], 0
    for p in parts:
        assert isinstance(p, Cat)
        codes.append(np.where(p.codes < 0, -1, p.codes + offset))
        cats.append(as_array(p.categories))
        offset += len(p.categories)
    return Cat(np.concatenate(codes), pa.concat_arrays(cats))


def null_column(ftype: str, n: int) -> Column:
    if ftype == "string":
        return Cat.const(None, n)
    if ftype == "id":
        return np.full(n, -1, dtype=np.int64)
    if ftype == "boolean":
        return np.full(n, -1, dtype=np.int8)
    return np.full(n, np.nan)


@dataclass
class Frame:
    """Rows of one landing object; ``day`` is the extract day each row lands in."""

    obj: LandingObject
    cols: dict[str, Column]
    day: np.ndarray
    #: Index of the record (entity) each row is a version of; lets dirt pick "the latest version".
    entity: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def build(cls, name: str, day: np.ndarray, entity: np.ndarray | None = None, **cols: Column) -> Frame:
        obj = get_object(name)
        n = len(day)
        full: dict[str, Column] = {}
        for f in obj.fields:
            col = cols.pop(f.name, None)
            full[f.name] = null_column(f.type, n) if col is None else col
            if len(full[f.name]) != n:
                raise ValueError(f"{name}.{f.name}: {len(full[f.name])} values for {n} rows")
        if cols:
            raise ValueError(f"{name}: fields outside the contract: {sorted(cols)}")
        ent = np.arange(n, dtype=np.int64) if entity is None else np.asarray(entity, dtype=np.int64)
        return cls(obj, full, np.asarray(day, dtype=np.int64), ent)

    def __len__(self) -> int:
        return len(self.day)

    def take(self, idx: np.ndarray) -> Frame:
        cols = {k: (v.take(idx) if isinstance(v, Cat) else v[idx]) for k, v in self.cols.items()}
        return Frame(self.obj, cols, self.day[idx], self.entity[idx])

    def with_cols(self, **changes: Column) -> Frame:
        cols = dict(self.cols)
        for k, v in changes.items():
            if k not in cols:
                raise KeyError(f"{self.obj.name} has no field {k}")
            cols[k] = v
        return Frame(self.obj, cols, self.day, self.entity)

    def version(self) -> np.ndarray:
        """Version time per row (NaN where the object has no version field)."""
        vf = self.obj.version_field
        return self.cols[vf] if vf else np.full(len(self), np.nan)  # type: ignore[return-value]


def concat(frames: list[Frame]) -> Frame:
    frames = [f for f in frames if len(f)] or frames[:1]
    cols = {k: _concat_column([f.cols[k] for f in frames]) for k in frames[0].cols}
    return Frame(
        frames[0].obj,
        cols,
        np.concatenate([f.day for f in frames]),
        np.concatenate([f.entity for f in frames]),
    )
