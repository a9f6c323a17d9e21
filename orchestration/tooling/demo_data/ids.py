"""Salesforce-looking 18-character Ids, encoded as int64 codes until they are written.

A code is ``kind << 40 | counter``; -1 is null. Keeping Ids as integers keeps the simulation light at
scale L (one int64 per cell instead of an 18-byte string) and lets polymorphic fields such as ``WhatId``
hold codes of different objects.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from orchestration.contract import ID_PREFIXES

from .text import fixed_width_strings, void_items

KINDS: tuple[str, ...] = tuple(ID_PREFIXES)
_KIND_INDEX = {k: i for i, k in enumerate(KINDS)}
_SHIFT = 40
_COUNTER_MASK = (1 << _SHIFT) - 1
_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_BASE62_PAIRS = np.stack([np.repeat(_BASE62, 62), np.tile(_BASE62, 62)], axis=1)
_CHECKSUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", dtype=np.uint8)
_PREFIX_BYTES = np.array([list(ID_PREFIXES[k].encode()) for k in KINDS], dtype=np.uint8)
#: Pod/instance characters after the prefix, as in real org Ids (``0015g00000...``).
_POD = np.frombuffer(b"5g0", dtype=np.uint8)
#: Offset so that counters look like real record numbers rather than 000000001.
_COUNTER_BASE = 62**5 * 3 + 62**4 * 17
#: Counters from here on are reserved for rows the generator makes up (malformed rows).
RESERVED_COUNTER = 1 << 38


def id_codes(kind: str, counters: np.ndarray) -> np.ndarray:
    """Codes of ``kind`` for the given non-negative counters."""
    return (np.int64(_KIND_INDEX[kind]) << _SHIFT) | np.asarray(counters, dtype=np.int64)


def _is_upper(chars: np.ndarray) -> np.ndarray:
    return ((chars >= ord("A")) & (chars <= ord("Z"))).astype(np.int64)


# Lookup tables: the 15-character Id is a 6-character head (prefix and pod) and nine base-62 digits,
# one then four pairs; the checksum is three 5-bit groups of upper-case flags of characters 0-14.
_HEADS = np.concatenate([_PREFIX_BYTES, np.tile(_POD, (len(KINDS), 1))], axis=1)
_HEAD_BITS = _is_upper(_HEADS[:, :5]) @ (1 << np.arange(5)), _is_upper(_HEADS[:, 5])
_DIGIT_UP = _is_upper(_BASE62)
_PAIR_UP = _is_upper(_BASE62_PAIRS[:, 0]), _is_upper(_BASE62_PAIRS[:, 1])
_CHECKSUMS = void_items(
    np.stack(
        [np.repeat(_CHECKSUM, 32 * 32), np.tile(np.repeat(_CHECKSUM, 32), 32), np.tile(_CHECKSUM, 32 * 32)], 1
    )
)
_ID_LAYOUT = np.dtype(
    [("head", "V6"), ("d0", "V1")] + [(f"p{i}", "V2") for i in range(1, 5)] + [("chk", "V3")]
)


def format_ids(codes: np.ndarray) -> pa.Array:
    """int64 codes -> pyarrow string array of 18-char Ids (15-char Id + case-safe checksum)."""
    codes = np.asarray(codes, dtype=np.int64)
    null = codes < 0
    safe = np.where(null, 0, codes)
    kind = safe >> _SHIFT
    counter = (safe & _COUNTER_MASK) + _COUNTER_BASE
    pairs = []
    for _ in range(4):  # least significant pair first
        counter, pair = np.divmod(counter, 62 * 62)
        pairs.append(pair)
    p4, p3, p2, p1 = pairs
    d0 = counter % 62
    out = np.empty(len(codes), dtype=_ID_LAYOUT)
    out["head"] = np.take(void_items(_HEADS), kind)
    out["d0"] = np.take(void_items(_BASE62[:, None]), d0)
    for name, pair in (("p1", p1), ("p2", p2), ("p3", p3), ("p4", p4)):
        out[name] = np.take(void_items(_BASE62_PAIRS), pair)
    hi, lo = _PAIR_UP
    block0 = _HEAD_BITS[0][kind]
    block1 = _HEAD_BITS[1][kind] | _DIGIT_UP[d0] << 1 | hi[p1] << 2 | lo[p1] << 3 | hi[p2] << 4
    block2 = lo[p2] | hi[p3] << 1 | lo[p3] << 2 | hi[p4] << 3 | lo[p4] << 4
    out["chk"] = np.take(_CHECKSUMS, block0 << 10 | block1 << 5 | block2)
    return fixed_width_strings(out.view(np.uint8).reshape(len(codes), 18), null)
