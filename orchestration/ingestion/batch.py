"""What the loader knows of a batch: its files as found and grouped, its result, and the error that
refuses it whole. Kept apart so every step of the load shares one vocabulary without importing the
others."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


class BatchError(Exception):
    """A batch that is wrong as a whole; the message names the file and the problem (and the fix).

    ``file`` (relative to the landing folder), ``extract_date`` and ``column`` say where, when known:
    the load records the error in ``raw._rejects`` (not committed) so a blocked batch shows why.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        extract_date: date | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.extract_date = extract_date
        self.column = column


@dataclass(frozen=True)
class BatchResult:
    object: str
    extract_date: date
    files: tuple[str, ...]
    source_rows: int
    loaded_rows: int
    rejected_rows: int
    found: bool
    #: False when ``before_commit`` refused the load and it was rolled back (the counts say what it held).
    committed: bool = True
    #: Contract columns absent from a file of the batch (loaded as NULL).
    missing_columns: tuple[str, ...] = ()
    #: Columns outside the contract, kept as VARCHAR.
    extra_columns: tuple[str, ...] = ()
    #: Raw date/timestamp column -> detected format label (several labels joined when files differ).
    column_formats: dict[str, str] = field(default_factory=dict)
    #: Entries of the batch folder that were not read (Excel lock files, dot files, markers), with why.
    skipped_files: tuple[SkippedFile, ...] = ()
    #: How files were read when it was not the default (encoding, delimiter, lines before the header).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkippedFile:
    """An entry of a batch folder the load did not read: ``file`` relative to the landing folder."""

    file: str
    reason: str


@dataclass
class SourceFile:
    file_id: int
    path: Path
    rel: str  # path relative to the landing folder, as stored in _source_file and rejects
    extract_date: date
    fmt: str
    headers: tuple[str, ...] = ()
    types: tuple[str, ...] = ()  # parquet only: DuckDB type of each column
    empty: bool = False  # a zero-byte file or blank lines only: no header, no rows
    targets: tuple[str, ...] = ()  # raw column of each header, once mapped
    #: What DuckDB reads: ``path`` itself, or a safe alias (a name holding glob characters) or a
    #: UTF-8 copy (another encoding, an Excel ``sep=`` line) in the load's scratch folder.
    read_path: Path | None = None
    delimiter: str = ","  # CSV only: detected from the header line (or Excel's ``sep=`` line)
    note: str = ""  # how the file was read when not the default (reported on BatchResult.notes)
    scratch: Path | None = None  # the load's scratch folder (UTF-8 copies, plain-named links)
    #: A value may hold a NUL byte (a CSV or JSONL line holds one; Parquet is not looked into): only
    #: then does the cast check every text value for NUL.
    may_hold_nul: bool = False

    @property
    def src(self) -> str:
        """The path given to DuckDB's readers (never a glob pattern)."""
        return str(self.read_path or self.path)


@dataclass
class Group:
    """Files of one format with the same columns: read with one reader call."""

    fmt: str
    headers: tuple[str, ...]
    types: tuple[str, ...]
    targets: tuple[str, ...]  # raw column of each source column
    files: list[SourceFile] = field(default_factory=list)
    delimiter: str = ","  # CSV only
    max_line_size: int | None = None  # CSV only: DuckDB's line limit when a line is longer than its default

    @property
    def paths(self) -> list[str]:
        return [f.src for f in self.files]
