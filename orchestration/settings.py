"""Configuration from environment variables, with documented defaults (README: Configuration).

Paths are resolved against the current directory, so running from the repository root needs no setup.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The default of every setting, once (README: Configuration lists them; tests/test_configuration.py
# compares the two). Paths are relative to SALES_WH_DATA_DIR.
DEFAULT_DATA_DIR = "data"
DEFAULT_LANDING_DIR = "landing"
DEFAULT_WAREHOUSE_FILE = "warehouse.duckdb"
DEFAULT_PUBLISHED_FILE = "published.duckdb"
#: The lake: raw tables as Parquet, one file per object and extract date (orchestration/lake/).
DEFAULT_LAKE_DIR = "lake"
DEFAULT_DBT_TARGET = "duckdb"
DEFAULT_MEMORY_LIMIT = "4GB"
DEFAULT_THREADS = 2
#: dbt models and tests built at once: each node mostly waits on DuckDB or on dbt's own bookkeeping, so
#: more nodes than cores overlap (a full `dbt build` at S: 23.7 s with 2, 19.9 s with 4, on 2 cores).
DEFAULT_DBT_THREADS = 4
#: dbt threads of a large build on DuckDB, one whose raw tables hold more than LARGE_BUILD_ROWS_PER_GB
#: rows per GB of the memory limit (at most SALES_WH_DBT_THREADS). Big queries built at once share the
#: one memory limit and the cores, and spill: plain `dbt build --full-refresh` at scale L (66 M raw rows,
#: 4 GB, 2 cores) took 473 s with 1 thread against 744 s with 4; at M (6.6 M rows) 62 s with 1 and 53 s
#: with 4 (docs/BENCHMARKS.md).
DEFAULT_DBT_THREADS_LARGE = 1
LARGE_BUILD_ROWS_PER_GB = 5_000_000
DEFAULT_DATE_FORMATS = ""
DEFAULT_PARTITION_START = date(2025, 1, 1)
DEFAULT_SCHEDULE_CRON = "0 6 * * *"
DEFAULT_SCHEDULE_TIMEZONE = "UTC"
DEFAULT_MAX_REJECT_RATE = 0.05
DEFAULT_GX_MAX_ROWS = 250_000
DEFAULT_FRESHNESS_ERROR_DAYS = 3
#: PostgreSQL (the ``postgres`` target): the same defaults as dbt_project/profiles.yml; the password only
#: from the environment (SALES_WH_PG_PASSWORD, default empty).
DEFAULT_PG_HOST = "localhost"
DEFAULT_PG_PORT = 5432
DEFAULT_PG_USER = "postgres"
DEFAULT_PG_DATABASE = "sales_wh"
#: The schema BI tools read on PostgreSQL: every published table, swapped in whole by each publish.
DEFAULT_PG_PUBLISHED_SCHEMA = "published"
#: Spark (the ``spark`` target): how dbt reaches Spark (``session``: an in-process Spark inside dbt, for
#: `make test-spark`; ``thrift``: a Spark Thrift server, which a whole run needs: .ci/spark.sh) and where
#: the Thrift server listens (the same defaults as dbt_project/profiles.yml).
DEFAULT_SPARK_METHOD = "session"
DEFAULT_SPARK_HOST = "localhost"
DEFAULT_SPARK_PORT = 10009


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


#: Bytes of a unit of DuckDB's size settings (``4GB``, ``4 GiB``, ``512MB``): KB and up are powers of 1000.
_SIZE_UNITS = {
    "b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip


def size_bytes(text: str) -> int | None:
    """Bytes of a DuckDB size setting such as ``SALES_WH_MEMORY_LIMIT`` (None: not a size)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*", text)
    unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
    return int(float(match.group(1)) * unit) if match and unit else None


def dbt_build_threads(raw_rows: int, memory_limit: str, dbt_threads: int, dbt_threads_large: int) -> int:
    """dbt threads of a build on DuckDB over raw tables of ``raw_rows`` rows: ``dbt_threads``, or at most
    ``dbt_threads_large`` when the raw tables hold more than LARGE_BUILD_ROWS_PER_GB rows per GB of the
    memory limit (a limit that is not a size leaves ``dbt_threads``)."""
    limit = size_bytes(memory_limit)
    if limit is None or raw_rows * 10**9 <= LARGE_BUILD_ROWS_PER_GB * limit:
        return dbt_threads
    return max(1, min(dbt_threads, dbt_threads_large))


def _path(name: str, default: Path) -> Path:
    return Path(_env(name, str(default))).absolute()


def parse_date_formats(spec: str) -> dict[str, str]:
    """``"Opportunity=MDY;Lead.CreatedDate=%d.%m.%Y"`` -> ``{"Opportunity": "MDY", "Lead.CreatedDate": ...}``.

    Keys are an object (every date and timestamp field of it) or ``Object.Field``; values ``MDY``,
    ``DMY``, ``ISO``, a label such as ``DD.MM.YYYY`` or a strptime pattern. Formats are detected per file
    and column anyway: a setting only decides between US and day-first dates when both read every value.
    """
    from orchestration.ingestion.formats import from_setting

    formats: dict[str, str] = {}
    for part in spec.split(";"):
        if not part.strip():
            continue
        key, sep, fmt = part.partition("=")
        if not sep or not key.strip() or not fmt.strip():
            raise ValueError(
                f"SALES_WH_DATE_FORMATS: expected Object=format or Object.Field=format, got {part!r}"
            )
        try:
            from_setting(fmt)
        except ValueError as exc:
            raise ValueError(f"SALES_WH_DATE_FORMATS: {exc}") from None
        formats[key.strip()] = fmt.strip()
    return formats


def object_date_formats(formats: dict[str, str], object_name: str) -> dict[str, str]:
    """The settings of one object as the loader takes them: ``"*"`` (whole object) or field -> format."""
    out = {"*": formats[object_name]} if object_name in formats else {}
    prefix = object_name + "."
    out.update({k[len(prefix) :]: v for k, v in formats.items() if k.startswith(prefix)})
    return out


def _reject_rate(text: str) -> float:
    rate = float(text)
    if not 0 <= rate <= 1:
        raise ValueError(f"SALES_WH_MAX_REJECT_RATE must be a fraction between 0 and 1, got {text!r}")
    return rate


def _gx_max_rows(text: str) -> int:
    rows = int(text)
    if rows < 0:
        raise ValueError(f"SALES_WH_GX_MAX_ROWS must be a row count (0 or more), got {text!r}")
    return rows


def _freshness_error_days(text: str) -> int:
    days = int(text)
    if days < 1:
        raise ValueError(f"SALES_WH_FRESHNESS_ERROR_DAYS must be a number of days (1 or more), got {text!r}")
    return days


def _identifier(name: str, text: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,50}", text):
        raise ValueError(f"{name} must be a lower-case SQL name (letters, digits, _), got {text!r}")
    return text


def postgres_conninfo(host: str, port: int, user: str, database: str) -> str:
    """A libpq connection string for the ``postgres`` target; the password comes from
    ``SALES_WH_PG_PASSWORD`` here, at connection time (as dbt's profile reads it)."""
    parts = {"host": host, "port": str(port), "user": user, "dbname": database}
    password = os.environ.get("SALES_WH_PG_PASSWORD", "")
    if password:
        parts["password"] = password
    return " ".join(f"{k}={_libpq_quote(v)}" for k, v in parts.items())


def _libpq_quote(value: str) -> str:
    """A libpq connection-string value: in single quotes, with backslashes and quotes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    warehouse_path: Path
    published_path: Path
    dbt_target: str
    memory_limit: str
    threads: int
    date_formats: dict[str, str]
    partition_start: date
    schedule_cron: str
    schedule_timezone: str
    #: Largest share of a batch's source rows that may be rejected before its landing check fails.
    max_reject_rate: float = DEFAULT_MAX_REJECT_RATE
    #: Largest batch (rows of one validation) the landing checks run with Great Expectations on a pandas
    #: frame; larger ones (a backfill) run as SQL inside DuckDB, with the same outcomes.
    gx_max_rows: int = DEFAULT_GX_MAX_ROWS
    #: Days an expected daily extract may be missing before its (non-blocking) freshness check fails
    #: with ERROR severity instead of WARN (orchestration/defs/freshness.py).
    freshness_error_days: int = DEFAULT_FRESHNESS_ERROR_DAYS
    #: dbt threads (``threads`` stays DuckDB's own, in the loader and in each dbt query).
    dbt_threads: int = DEFAULT_DBT_THREADS
    #: dbt threads of a large build (:func:`dbt_build_threads`).
    dbt_threads_large: int = DEFAULT_DBT_THREADS_LARGE
    #: The lake folder: raw tables as Hive-partitioned Parquet that PostgreSQL and Spark read
    #: (orchestration/lake/layout.py); absolute, like the other paths.
    lake_dir: Path = Path(DEFAULT_DATA_DIR, DEFAULT_LAKE_DIR).absolute()
    #: PostgreSQL server of the ``postgres`` target (the password is read from the environment when a
    #: connection is opened: :func:`postgres_conninfo`, never kept in settings or run config).
    pg_host: str = DEFAULT_PG_HOST
    pg_port: int = DEFAULT_PG_PORT
    pg_user: str = DEFAULT_PG_USER
    pg_database: str = DEFAULT_PG_DATABASE
    pg_published_schema: str = DEFAULT_PG_PUBLISHED_SCHEMA
    #: Spark Thrift server of the ``spark`` target (orchestration/engines.py).
    spark_method: str = DEFAULT_SPARK_METHOD
    spark_host: str = DEFAULT_SPARK_HOST
    spark_port: int = DEFAULT_SPARK_PORT

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("SALES_WH_DATA_DIR", DEFAULT_DATA_DIR))
        return cls(
            landing_dir=_path("SALES_WH_LANDING_DIR", data_dir / DEFAULT_LANDING_DIR),
            warehouse_path=_path("SALES_WH_WAREHOUSE", data_dir / DEFAULT_WAREHOUSE_FILE),
            published_path=_path("SALES_WH_PUBLISHED", data_dir / DEFAULT_PUBLISHED_FILE),
            lake_dir=_path("SALES_WH_LAKE_DIR", data_dir / DEFAULT_LAKE_DIR),
            dbt_target=_env("SALES_WH_DBT_TARGET", DEFAULT_DBT_TARGET),
            memory_limit=_env("SALES_WH_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT),
            threads=int(_env("SALES_WH_THREADS", str(DEFAULT_THREADS))),
            dbt_threads=int(_env("SALES_WH_DBT_THREADS", str(DEFAULT_DBT_THREADS))),
            dbt_threads_large=int(_env("SALES_WH_DBT_THREADS_LARGE", str(DEFAULT_DBT_THREADS_LARGE))),
            date_formats=parse_date_formats(_env("SALES_WH_DATE_FORMATS", DEFAULT_DATE_FORMATS)),
            partition_start=date.fromisoformat(
                _env("SALES_WH_PARTITION_START", DEFAULT_PARTITION_START.isoformat())
            ),
            schedule_cron=_env("SALES_WH_SCHEDULE_CRON", DEFAULT_SCHEDULE_CRON),
            schedule_timezone=_env("SALES_WH_SCHEDULE_TIMEZONE", DEFAULT_SCHEDULE_TIMEZONE),
            max_reject_rate=_reject_rate(_env("SALES_WH_MAX_REJECT_RATE", str(DEFAULT_MAX_REJECT_RATE))),
            gx_max_rows=_gx_max_rows(_env("SALES_WH_GX_MAX_ROWS", str(DEFAULT_GX_MAX_ROWS))),
            freshness_error_days=_freshness_error_days(
                _env("SALES_WH_FRESHNESS_ERROR_DAYS", str(DEFAULT_FRESHNESS_ERROR_DAYS))
            ),
            pg_host=_env("SALES_WH_PG_HOST", DEFAULT_PG_HOST),
            pg_port=int(_env("SALES_WH_PG_PORT", str(DEFAULT_PG_PORT))),
            pg_user=_env("SALES_WH_PG_USER", DEFAULT_PG_USER),
            pg_database=_env("SALES_WH_PG_DATABASE", DEFAULT_PG_DATABASE),
            pg_published_schema=_identifier(
                "SALES_WH_PG_PUBLISHED_SCHEMA",
                _env("SALES_WH_PG_PUBLISHED_SCHEMA", DEFAULT_PG_PUBLISHED_SCHEMA),
            ),
            spark_method=_env("SALES_WH_SPARK_METHOD", DEFAULT_SPARK_METHOD),
            spark_host=_env("SALES_WH_SPARK_HOST", DEFAULT_SPARK_HOST),
            spark_port=int(_env("SALES_WH_SPARK_PORT", str(DEFAULT_SPARK_PORT))),
        )
