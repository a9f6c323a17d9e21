"""The bad-input corpus (issue 15, item 3): hostile but fair landing files, each with the outcome a
careful loader gives.

Every case is a folder of ``tests/fixtures/bad/``: ``landing/<Object>/<date>/<files>`` written by hand,
and ``expected.json`` with the outcome and why (``why``). Files that cannot or should not be committed
(multi-MB fields, NUL bytes, UTF-16, Parquet, symlinks, names with ``* ? [ ] ' "``) are written at test
time by the *maker* named in ``expected.json`` (see ``MAKERS`` below), into the case's copy under
``tmp_path``. Names committed with tokens are renamed at test time (``_STAR_`` -> ``*``, see ``TOKENS``).

``expected.json`` holds either

- ``source_rows``, ``loaded``, ``rejected`` (exact), and optionally ``rejects`` (file, line, column,
  reason substring), ``values`` (a column of the row with a given Id), ``files`` (loaded rows per source
  file), ``loaded_lines``, ``skipped_files`` (files of the batch folder the load did not read, reported
  on ``BatchResult.skipped_files``), ``checks`` (the landing checks that fail, by severity); or
- ``batch_error``: substrings (case-insensitive) of the :class:`BatchError` message, which must name the
  file (or folder) and the fix; nothing is loaded.

``discover: true`` lists the extract dates with ``list_extract_dates`` instead of naming them.

Every load runs under a 60 s guard (never a hang). A successful load must account for every row:
source rows = loaded + rejected, the raw partition holds ``loaded`` rows and the committed rejects name
``rejected`` distinct lines. Any exception other than BatchError fails the case: a traceback is never
the message. Cases the current loader does not handle as specified are ``xfail(strict=True)`` in
``XFAIL`` below with what happens today; the expected outcome is never weakened to today's behaviour.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.contract import CORPORATE_CURRENCY, get_object
from orchestration.ingestion.loader import BatchError, BatchResult, ensure_raw_schema, load_batches
from orchestration.quality.landing import reject_rate_outcome, validate_landing

CORPUS = Path(__file__).parent / "fixtures" / "bad"
TIMEOUT_S = 60
DAY = "2025-01-02"

# The rows most cases are made of (the committed files hold the same text, written by hand).
HEADER = ["Id", "Name", "StageName", "CloseDate", "CreatedDate", "OwnerId", "Amount", "SystemModstamp"]
ROWS = [
    [
        "0060000000000001AA",
        "Acme renewal",
        "Prospecting",
        "2025-02-01",
        "2025-01-02T10:00:00Z",
        "0050000000000001AA",
        "1000",
        "2025-01-02T10:00:00Z",
    ],
    [
        "0060000000000002AA",
        "Globex expansion",
        "Closed Won",
        "2025-01-15",
        "2024-12-01T09:30:00Z",
        "0050000000000001AA",
        "2500.50",
        "2025-01-02T11:00:00Z",
    ],
    [
        "0060000000000003AA",
        "Initech pilot",
        "Negotiation/Review",
        "2025-03-31",
        "2024-11-20T14:00:00Z",
        "0050000000000002AA",
        "750",
        "2025-01-02T12:00:00Z",
    ],
]

#: Tokens in committed file names, replaced at test time (``*?[]'"`` in names break checkouts elsewhere).
TOKENS = {
    "_STAR_": "*",
    "_QMARK_": "?",
    "_LBRACKET_": "[",
    "_RBRACKET_": "]",
    "_APOS_": "'",
    "_QUOTE_": '"',
}

#: What the current loader does instead of the expected outcome (remove an entry once it is fixed).
XFAIL: dict[str, str] = {}


# ----------------------------------------------------------------------------------------------- makers


def _batch(case: Path, day: str = DAY) -> Path:
    folder = case / "landing" / "Opportunity" / day
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _csv_text(rows: list[list[str]], *, delim: str = ",", eol: str = "\n") -> str:
    return "".join(delim.join(r) + eol for r in [HEADER, *rows])


def _utf16le_bom(case: Path) -> None:
    # Excel's "Unicode Text": UTF-16 LE with a BOM, tab-delimited, CRLF.
    rows = [ROWS[0], [ROWS[1][0], "Zürich Übersicht", *ROWS[1][2:]], ROWS[2]]
    data = b"\xff\xfe" + _csv_text(rows, delim="\t", eol="\r\n").encode("utf-16-le")
    (_batch(case) / "part-0.csv").write_bytes(data)


def _utf16be_bom(case: Path) -> None:
    rows = [ROWS[0], [ROWS[1][0], "Zürich Übersicht", *ROWS[1][2:]], ROWS[2]]
    data = b"\xfe\xff" + _csv_text(rows).encode("utf-16-be")
    (_batch(case) / "part-0.csv").write_bytes(data)


#: A 5 MiB quoted value with commas in it: past DuckDB's default 2 MB line limit.
BIG_FIELD_CHARS = 5 * 1024 * 1024


def _field_5mb(case: Path) -> None:
    big = ("lorem, ipsum " * (BIG_FIELD_CHARS // 13 + 1))[:BIG_FIELD_CHARS]
    row = ["0060000000000004AA", f'"{big}"', "Prospecting", "2025-04-01", "2024-11-20T14:00:00Z"]
    row += ["0050000000000002AA", "10", "2025-01-02T12:00:00Z"]
    with (_batch(case) / "part-0.csv").open("a", encoding="utf-8", newline="") as fh:
        fh.write(",".join(row) + "\n")


def _excel_lock_file(case: Path) -> None:
    # Excel's owner file for an open part-0.csv: length-prefixed user name, space padded, then the
    # name again in UTF-16 with NUL bytes (165 bytes in all).
    user = b"Alice"
    data = bytes([len(user)]) + user.ljust(53, b" ") + bytes([len(user), 0])
    data += "Alice".encode("utf-16-le") + " ".encode("utf-16-le") * 49
    (_batch(case) / "~$part-0.csv").write_bytes(data[:165].ljust(165, b"\x00"))


def _dangling_symlink(case: Path) -> None:
    os.symlink("../../../../exports/2025-01-02/part-1.csv", _batch(case) / "part-1.csv")


def _symlinked_file(case: Path) -> None:
    os.symlink("../../../shared/opportunities.csv", _batch(case) / "part-0.csv")


def _ds_store(case: Path) -> None:
    # Finder's metadata file: a "Bud1" buddy-allocator header and NUL padding.
    data = b"\x00\x00\x00\x01Bud1" + b"\x00" * 8 + b"\x10\x00\x00\x00\x08\x00" + b"\x00" * 4082
    (_batch(case) / ".DS_Store").write_bytes(data)


def _xlsx(case: Path) -> None:
    # The first bytes of an Office Open XML workbook (a ZIP archive).
    data = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"[Content_Types].xml" + b"\x00" * 64
    (_batch(case) / "report.xlsx").write_bytes(data)


def _nul_in_value(case: Path) -> None:
    rows = [ROWS[0], [ROWS[1][0], "Globex\x00expansion", *ROWS[1][2:]], ROWS[2]]
    (_batch(case) / "part-0.csv").write_bytes(_csv_text(rows).encode("utf-8"))


LONG_ID = "006" + "A" * 100_000


def _id_100003_chars(case: Path) -> None:
    row = [LONG_ID, "Umbrella deal", "Prospecting", "2025-04-01", "2024-11-20T14:00:00Z"]
    row += ["0050000000000002AA", "10", "2025-01-02T12:00:00Z"]
    with (_batch(case) / "part-0.csv").open("a", encoding="utf-8", newline="") as fh:
        fh.write(",".join(row) + "\n")


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _parquet(case: Path, name: str, columns: dict[str, pa.Array]) -> None:
    pq.write_table(pa.table(columns), _batch(case) / name)


def _parquet_amount_string_junk(case: Path) -> None:
    n = 4
    ids = [r[0] for r in ROWS] + ["0060000000000004AA"]
    _parquet(
        case,
        "amount_junk.parquet",
        {
            "Id": pa.array(ids[:n]),
            "StageName": pa.array(["Prospecting", "Closed Won", "Prospecting", "Prospecting"]),
            "CloseDate": pa.array([date(2025, 2, 1), date(2025, 1, 15), date(2025, 3, 31), date(2025, 4, 1)]),
            "CreatedDate": pa.array([_ts("2025-01-02T10:00:00Z")] * n, pa.timestamp("us", tz="UTC")),
            "OwnerId": pa.array(["0050000000000001AA"] * n),
            # Amount as a string column: a number, junk, an empty string and a null.
            "Amount": pa.array(["1000.00", "n/a", "", None], pa.string()),
            "SystemModstamp": pa.array([_ts("2025-01-02T12:00:00Z")] * n, pa.timestamp("us", tz="UTC")),
        },
    )


def _parquet_closedate_int(case: Path) -> None:
    n = 3
    _parquet(
        case,
        "closedate_int.parquet",
        {
            "Id": pa.array([r[0] for r in ROWS]),
            "StageName": pa.array([r[2] for r in ROWS]),
            # CloseDate as a 32-bit integer (yyyymmdd): no value of this column is a date.
            "CloseDate": pa.array([20250201, 20250115, 20250331], pa.int32()),
            "OwnerId": pa.array([r[5] for r in ROWS]),
            "Amount": pa.array([1000.0, 2500.5, 750.0]),
            "SystemModstamp": pa.array([_ts("2025-01-02T12:00:00Z")] * n, pa.timestamp("us", tz="UTC")),
        },
    )


MAKERS: dict[str, Callable[[Path], None]] = {
    "utf16le_bom": _utf16le_bom,
    "utf16be_bom": _utf16be_bom,
    "field_5mb": _field_5mb,
    "excel_lock_file": _excel_lock_file,
    "dangling_symlink": _dangling_symlink,
    "symlinked_file": _symlinked_file,
    "ds_store": _ds_store,
    "xlsx": _xlsx,
    "nul_in_value": _nul_in_value,
    "id_100003_chars": _id_100003_chars,
    "parquet_amount_string_junk": _parquet_amount_string_junk,
    "parquet_closedate_int": _parquet_closedate_int,
}


# ------------------------------------------------------------------------------------------------ cases


def _cases() -> list[Any]:
    params = []
    for folder in sorted(p for p in CORPUS.iterdir() if (p / "expected.json").is_file()):
        marks = []
        if folder.name in XFAIL:
            marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[folder.name]))
        params.append(pytest.param(folder.name, id=folder.name, marks=marks))
    return params


def _list_extract_dates() -> Callable[..., list[date]]:
    """``list_extract_dates`` wherever the loader's split puts it (the loader module re-exports it)."""
    loader = importlib.import_module("orchestration.ingestion.loader")
    if hasattr(loader, "list_extract_dates"):
        return loader.list_extract_dates
    package = importlib.import_module("orchestration.ingestion")
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"orchestration.ingestion.{info.name}")
        if hasattr(module, "list_extract_dates"):
            return module.list_extract_dates
    raise ImportError("list_extract_dates not found in orchestration.ingestion")


def _prepare(case: str, tmp_path: Path, spec: dict[str, Any]) -> Path:
    """Copy the case to ``tmp_path``, rename tokens in file names, run its maker; return the landing."""
    root = tmp_path / case
    shutil.copytree(CORPUS / case, root, symlinks=True)
    for path in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        name = path.name
        for token, char in TOKENS.items():
            name = name.replace(token, char)
        if name != path.name:
            path.rename(path.with_name(name))
    if "make" in spec:
        MAKERS[spec["make"]](root)
    return root / "landing"


class _Timeout(Exception):
    pass


@contextmanager
def _guard(con: duckdb.DuckDBPyConnection, seconds: int = TIMEOUT_S) -> Iterator[None]:
    """Fail instead of hanging: SIGALRM for Python code, ``con.interrupt()`` for a running query."""

    def on_alarm(signum: int, frame: object) -> None:
        raise _Timeout(f"the load took more than {seconds} s")

    fired = threading.Event()

    def interrupt() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(seconds, interrupt)
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds + 5)
    timer.start()
    try:
        yield
    except duckdb.Error as exc:
        if fired.is_set():  # the query was interrupted by the guard
            raise _Timeout(f"the load took more than {seconds} s") from exc
        raise
    finally:
        timer.cancel()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _basename(entry: Any) -> str:
    """A skipped-file entry (a path, or a tuple/object whose first item or ``file`` is one) -> name."""
    if isinstance(entry, tuple | list):
        entry = entry[0]
    entry = getattr(entry, "file", entry)
    return Path(str(entry)).name


# ------------------------------------------------------------------------------------------------- test


@pytest.mark.parametrize("case", _cases())
def test_bad_input(case: str, tmp_path: Path) -> None:
    spec = json.loads((CORPUS / case / "expected.json").read_text(encoding="utf-8"))
    assert spec.get("why"), f"{case}: expected.json must say why"
    obj = get_object(spec.get("object", "Opportunity"))
    landing = _prepare(case, tmp_path, spec)
    table = f"raw.{obj.table}"

    with duckdb.connect() as con:
        ensure_raw_schema(con)
        error: BatchError | None = None
        results: list[BatchResult] = []
        with _guard(con):
            try:
                if spec.get("discover"):
                    dates = _list_extract_dates()(landing, obj)
                else:
                    dates = [date.fromisoformat(d) for d in spec.get("dates", [DAY])]
                results = load_batches(con, obj, landing, dates)
            except BatchError as exc:
                error = exc

        if "batch_error" in spec:
            assert error is not None, f"expected a batch error, the load returned {results}"
            message = str(error)
            for part in spec["batch_error"]:
                assert part.lower() in message.lower(), f"{part!r} not in the message: {message}"
            assert "Traceback" not in message
            assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, "half-loaded"
            return

        assert error is None, f"batch error: {error}"
        assert len(results) == 1, results
        (result,) = results
        counts = (result.source_rows, result.loaded_rows, result.rejected_rows)
        assert counts == (spec["source_rows"], spec["loaded"], spec["rejected"]), counts
        assert result.source_rows == result.loaded_rows + result.rejected_rows
        assert result.committed
        day = result.extract_date
        raw_rows = con.execute(f"SELECT count(*) FROM {table} WHERE _extract_date = ?", [day]).fetchone()[0]
        assert raw_rows == result.loaded_rows
        reject_rows = con.execute(
            """SELECT source_file, source_line, column_name, reason FROM raw._rejects
               WHERE object = ? AND extract_date = ? AND committed""",
            [obj.name, day],
        ).fetchall()
        assert len({(f, line) for f, line, _, _ in reject_rows}) == result.rejected_rows

        for want in spec.get("rejects", []):
            hits = [
                r
                for r in reject_rows
                if Path(r[0]).name == want["file"]
                and r[1] == want["line"]
                and r[2] == want.get("column")
                and want.get("reason", "").lower() in (r[3] or "").lower()
            ]
            assert hits, f"no reject {want} among {[(Path(f).name, n, c, w) for f, n, c, w in reject_rows]}"

        for want in spec.get("values", []):
            (value,) = con.execute(
                f'SELECT CAST("{want["column"]}" AS VARCHAR) FROM {table} WHERE id = ? AND _extract_date = ?',
                [want["id"], day],
            ).fetchone()
            if "equals" in want:
                assert value == want["equals"], (want, value)
            if "contains" in want:
                assert value is not None and want["contains"] in value, (want, value)
            if "length" in want:
                assert value is not None and len(value) == want["length"], (want["id"], len(value or ""))

        if "files" in spec:
            per_file = con.execute(
                f"SELECT _source_file, count(*) FROM {table} WHERE _extract_date = ? GROUP BY 1", [day]
            ).fetchall()
            assert {Path(f).name: n for f, n in per_file} == spec["files"]

        if "loaded_lines" in spec:
            lines = con.execute(
                f"SELECT _source_line FROM {table} WHERE _extract_date = ? ORDER BY 1", [day]
            ).fetchall()
            assert [n for (n,) in lines] == spec["loaded_lines"]

        if "skipped_files" in spec:
            skipped = getattr(result, "skipped_files", None)
            assert skipped is not None, "BatchResult has no skipped_files: the skip is not reported"
            assert sorted(_basename(s) for s in skipped) == sorted(spec["skipped_files"])

        if "checks" in spec:
            outcomes = validate_landing(con, obj, [day], known_currencies={CORPORATE_CURRENCY}, engine="sql")
            outcomes.append(reject_rate_outcome(results, max_reject_rate=0.05))
            failed = {
                severity: sorted(o.name for o in outcomes if o.severity == severity and not o.success)
                for severity in ("error", "warn")
            }
            assert failed == {"error": [], "warn": [], **spec["checks"]}, failed


def test_corpus_size() -> None:
    """Issue 15 asks for at least 30 cases; every case folder has its expected.json."""
    folders = [p for p in CORPUS.iterdir() if p.is_dir()]
    assert all((p / "expected.json").is_file() for p in folders), [p.name for p in folders]
    assert len(folders) >= 32
