"""How each landing file is read: encoding, delimiter, the lines before a CSV header, and a path
DuckDB reads literally. Decided from the first bytes and the header line only, so the common file
(UTF-8, comma, header on line 1, a plain name) is read in place by the existing fast path.

- **Encoding.** A UTF-16 BOM names UTF-16; a UTF-8 BOM (or valid UTF-8) is UTF-8. Bytes that are not
  UTF-8 are Windows-1252 (Excel's "CSV" on Windows), or Latin-1 when a byte is undefined in
  Windows-1252. DuckDB's reader has UTF-8, UTF-16 and Latin-1 only (Windows-1252 needs an extension),
  so any other encoding is transcoded into a UTF-8 copy in the load's scratch folder. A file whose
  first 64 KiB are ASCII and that turns out not to be UTF-8 further on is transcoded when DuckDB's
  read of it fails (:func:`transcode_if_not_utf8`, error path only).
- **Delimiter.** ``,``, ``;`` or tab: the one that splits the header into the most fields (a tie
  keeps ``,``), or the one Excel's ``sep=;`` first line names.
- **Lines before the header.** Leading blank lines are skipped (line numbers stay physical); an Excel
  ``sep=`` line is blanked in a copy, so lines keep their numbers there too.
- **Paths.** DuckDB's readers take glob patterns: a path holding ``* ? [ ] { } \\`` is read through a
  symbolic link with a plain name in the scratch folder, so ``p*.csv`` is never another file.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import shutil
from pathlib import Path

from orchestration.ingestion.batch import BatchError, SourceFile

#: Characters DuckDB's file readers expand as globs.
GLOB_CHARS = frozenset("*?[]{}\\")
_HEAD_BYTES = 1 << 16
_CHUNK = 1 << 20
DELIMITERS = (",", ";", "\t")
_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_SEP_LINE = re.compile(r"sep=(.)\s*", re.IGNORECASE)
_LINE_END = re.compile(r"\r\n|\r|\n")
# Valid UTF-8 multi-byte sequences: a file holding these and bytes that are not UTF-8 mixes encodings.
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_LABELS = {"utf-16": "UTF-16", "cp1252": "Windows-1252", "latin-1": "Latin-1 (ISO-8859-1)"}


def needs_alias(path: Path) -> bool:
    return any(c in GLOB_CHARS for c in str(path))


def alias(f: SourceFile, scratch: Path) -> None:
    """Give DuckDB a path it does not glob: a symbolic link with a plain name (a copy if links fail)."""
    if f.read_path is not None or not needs_alias(f.path):
        return
    target = scratch / f"f{f.file_id}{f.path.suffix.lower()}"
    try:
        os.symlink(f.path.resolve(), target)
    except OSError:
        shutil.copyfile(f.path, target)
    f.read_path = target


def _single_byte(data: bytes) -> str:
    """Windows-1252 when every byte is defined there, else Latin-1 (which decodes any byte)."""
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def _head_encoding(head: bytes, f: SourceFile) -> tuple[str, int]:
    """(Python codec, BOM length) from the first bytes of a file."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 2
    if head.isascii():
        return "utf-8", 0
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        if _UTF8_MULTIBYTE.search(head[: exc.start]):
            _mixed(f, head, exc.start)
        return _single_byte(head), 0
    return "utf-8", 0


def _mixed(f: SourceFile, data: bytes, at: int) -> None:
    line = data.count(b"\n", 0, at) + 1
    raise BatchError(
        f"{f.path}: mixes encodings: UTF-8 text, then byte 0x{data[at]:02x} on line {line} that is not "
        "UTF-8; save the file again as UTF-8 (e.g. Excel's 'CSV UTF-8')",
        file=f.rel,
        extract_date=f.extract_date,
    )


def _header_fields(text: str, delimiter: str) -> list[str]:
    return next(
        csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=True), []
    )


def sniff(f: SourceFile, scratch: Path) -> None:
    """Encoding, delimiter, header and read path of a CSV file (``f.empty`` for one without text)."""
    size = f.path.stat().st_size
    if size == 0:
        f.empty = True
        return
    with f.path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    codec, bom = _head_encoding(head, f)
    try:
        text = codecs.getincrementaldecoder(codec)().decode(head[bom:] if codec == "utf-8" else head)
    except UnicodeDecodeError as exc:
        raise BatchError(
            f"{f.path}: unreadable CSV header ({_LABELS.get(codec, codec)} expected): {exc}",
            file=f.rel,
            extract_date=f.extract_date,
        ) from exc
    complete = len(head) == size  # the head holds the whole file
    pos, n = 0, 0  # start of the current line in ``text``, its index (0-based)

    def line_at(start: int) -> tuple[str, int]:
        """The line starting at ``start`` and where the next one starts (only the first lines are cut)."""
        m = _LINE_END.search(text, start)
        return (text[start : m.start()], m.end()) if m else (text[start:], len(text))

    line, after = line_at(pos)
    while not line and after < len(text):  # empty lines, as DuckDB's readers skip them
        pos, n = after, n + 1
        line, after = line_at(pos)
    if not line.strip():
        if complete or _only_blank(f.path, codec):
            f.empty = True
            return
        _no_header(f, n + 1)
    sep_line = None
    sep = _SEP_LINE.fullmatch(line)
    if sep and sep.group(1) in (*DELIMITERS, "|"):
        sep_line = n
        pos, n = after, n + 1
        line, after = line_at(pos)
        while not line and after < len(text):
            pos, n = after, n + 1
            line, after = line_at(pos)
    # The header record starts at line n + 1; a quote left open on that line continues it on the next.
    rest = line if line.count('"') % 2 == 0 else text[pos:]
    candidates: list[tuple[str, list[str]]] = []
    errors: list[csv.Error] = []
    for d in [sep.group(1)] if sep_line is not None and sep else DELIMITERS:
        try:
            candidates.append((d, _header_fields(rest, d)))
        except csv.Error as exc:  # quoting that does not fit this delimiter
            errors.append(exc)
    if not candidates:
        raise BatchError(
            f"{f.path}: unreadable CSV header on line {n + 1}: {errors[0]}",
            file=f.rel,
            extract_date=f.extract_date,
        ) from errors[0]
    delimiter, header = max(candidates, key=lambda c: len(c[1]))  # the first of a tie: ','

    if not any(h.strip() for h in header):
        _no_header(f, n + 1)
    f.headers = tuple(header)
    f.delimiter = delimiter
    notes = []
    if codec != "utf-8":
        notes.append(f"read as {_LABELS[codec]}")
    if delimiter != ",":
        notes.append(f"{_NAMES[delimiter] if delimiter in _NAMES else repr(delimiter)}-delimited")
    if sep_line is not None:
        notes.append(f"Excel 'sep=' line {sep_line + 1} skipped")
    elif n:
        notes.append(f"header on line {n + 1} (blank lines before it skipped)")
    f.note = ", ".join(notes)
    if codec != "utf-8" or sep_line is not None:
        _write_utf8_copy(f, scratch, codec, bom, sep_line)


def _only_blank(path: Path, codec: str) -> bool:
    with path.open(encoding=codec, errors="replace", newline="") as fh:
        return not any(chunk.strip().strip("\ufeff") for chunk in iter(lambda: fh.read(_CHUNK), ""))


def _no_header(f: SourceFile, line: int) -> None:
    raise BatchError(
        f"{f.path}: no header on line {line} (the first line that is not blank has only empty cells); "
        "a CSV file must start with its header",
        file=f.rel,
        extract_date=f.extract_date,
    )


def _write_utf8_copy(f: SourceFile, scratch: Path, codec: str, bom: int, sep_line: int | None) -> None:
    """A UTF-8 copy of ``f`` in ``scratch`` (the same lines; an Excel ``sep=`` line left blank)."""
    target = scratch / f"f{f.file_id}.csv"
    codecs_to_try = [codec] if codec in ("utf-8", "utf-16") else [codec, "latin-1"]
    if codec == "utf-8":
        codecs_to_try.append("cp1252")  # ASCII head, other bytes further on
    for i, name in enumerate(codecs_to_try):
        try:
            _transcode(f.path, target, name, bom if name == "utf-8" else 0, sep_line)
            break
        except UnicodeDecodeError as exc:
            if i == len(codecs_to_try) - 1:
                raise BatchError(
                    f"{f.path}: not readable as {_LABELS.get(name, name)}: {exc}; save it as UTF-8",
                    file=f.rel,
                    extract_date=f.extract_date,
                ) from exc
    if name != codec:
        f.note = f.note.replace(f"read as {_LABELS.get(codec, '')}", "").strip(", ")
        f.note = ", ".join(x for x in (f"read as {_LABELS[name]}", f.note) if x)
    f.read_path = target


def _transcode(source: Path, target: Path, codec: str, skip: int, sep_line: int | None) -> None:
    decoder = codecs.getincrementaldecoder(codec)()
    pending = sep_line is not None
    with source.open("rb") as fin, target.open("wb") as fout:
        fin.seek(skip)
        while True:
            chunk = fin.read(_CHUNK)
            text = decoder.decode(chunk, final=not chunk)
            if pending and text and sep_line is not None:
                # Blank the sep= line (keep its line end, so every later line keeps its number).
                parts = _LINE_END.split(text, maxsplit=sep_line + 1)
                if len(parts) > sep_line + 1:
                    ends = _LINE_END.findall(text)[: sep_line + 1]
                    parts[sep_line] = ""
                    text = "".join(p + e for p, e in zip(parts[:-1], ends, strict=True)) + parts[-1]
                    pending = False
            fout.write(text.lstrip("\ufeff").encode("utf-8") if fout.tell() == 0 else text.encode("utf-8"))
            if not chunk:
                break


def transcode_if_not_utf8(f: SourceFile, scratch: Path) -> bool:
    """Error path of a read that failed: if ``f`` (read in place as UTF-8) holds bytes that are not
    UTF-8, read it from a UTF-8 copy (Windows-1252, else Latin-1) and return True."""
    if f.read_path is not None and f.read_path.parent == scratch and not f.read_path.is_symlink():
        return False  # already a copy
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with f.path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            if not chunk.isascii() or decoder.getstate()[0]:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    data = f.path.read_bytes()
                    at = offset + exc.start
                    if _UTF8_MULTIBYTE.search(data[:at]):
                        _mixed(f, data, at)
                    codec = _single_byte(data)
                    _transcode(f.path, scratch / f"f{f.file_id}.csv", codec, 0, None)
                    f.read_path = scratch / f"f{f.file_id}.csv"
                    f.note = ", ".join(x for x in (f"read as {_LABELS[codec]}", f.note) if x)
                    return True
            offset += len(chunk)
    return False
