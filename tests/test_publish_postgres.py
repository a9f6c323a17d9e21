"""Publishing on PostgreSQL (orchestration/publishing/postgres.py) on a real server: the published schema
is replaced whole in one transaction, carries its history forward, waits for readers that are inside a
transaction, gives up cleanly when it cannot get its locks, and keeps a reader role's access."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from orchestration.publishing import postgres as pgpub
from orchestration.publishing.publish import CheckRecord, PublishRequest
from orchestration.settings import postgres_conninfo
from tests.portability import scratch_pg_database

TABLES = ["marts.kpi_a", "marts.kpi_b", "core.fct_c", "core.dim_d"]


@pytest.fixture
def pg() -> Iterator[dict[str, Any]]:
    with scratch_pg_database("sales_wh_pub") as params:
        conninfo = postgres_conninfo(params["host"], int(params["port"]), params["user"], params["dbname"])
        con = _connect(params)
        with con.cursor() as cur:
            cur.execute("create schema marts; create schema core")
            for t in TABLES:
                cur.execute(f"create table {t} (id int, amount numeric(18, 2))")
        con.commit()
        con.close()
        yield {"params": params, "conninfo": conninfo}


def _connect(params: dict[str, str]) -> Any:
    import psycopg2

    return psycopg2.connect(**params)


def _run(params: dict[str, str], *sql: str) -> list[tuple[Any, ...]]:
    con = _connect(params)
    try:
        with con.cursor() as cur:
            for s in sql:
                cur.execute(s)
            rows = cur.fetchall() if cur.description else []
        con.commit()
        return rows
    finally:
        con.close()


def _build(params: dict[str, str], rows: int) -> None:
    """The working tables hold ``rows`` rows each (ids 1..rows, amount 1.50 each)."""
    stmts = [f"truncate {t}" for t in TABLES]
    stmts += [f"insert into {t} select g, 1.50 from generate_series(1, {rows}) as g" for t in TABLES]
    _run(params, *stmts)


def _request(run_id: str, passed: bool = True) -> PublishRequest:
    check = CheckRecord("marts/kpi_a", "not_empty", passed, "ERROR", None, datetime(2026, 1, 1))
    return PublishRequest(run_id=run_id, tables=TABLES, checks=[check], build_state=("fp", "raw"))


def _published(params: dict[str, str]) -> dict[str, int]:
    tables = _run(params, "select tablename from pg_tables where schemaname = 'published' order by 1")
    return {t: _run(params, f"select count(*) from published.{t}")[0][0] for (t,) in tables}


def test_each_publish_replaces_the_schema_and_carries_history_forward(pg: dict[str, Any]) -> None:
    params = pg["params"]
    _build(params, 2)
    assert pgpub.publish_postgres(pg["conninfo"], "published", _request("run-1")) == dict.fromkeys(TABLES, 2)
    _build(params, 5)
    pgpub.publish_postgres(pg["conninfo"], "published", _request("run-2", passed=False))
    counts = _published(params)
    assert {t: counts[t.split(".")[1]] for t in TABLES} == dict.fromkeys(TABLES, 5)
    assert counts["run_history"] == 2 and counts["check_results"] == 2 and counts["build_state"] == 1
    assert _run(params, "select run_id, checks_failed from published.run_history order by published_at") == [
        ("run-1", 0),
        ("run-2", 1),
    ]
    assert _run(params, "select sum(amount) from published.kpi_b")[0][0] == pytest.approx(7.5)
    assert pgpub.postgres_build_state(pg["conninfo"], "published") == ("fp", "raw")
    schemas = _run(params, "select nspname from pg_namespace where nspname like 'published%' order by 1")
    assert schemas == [("published",)]  # no staging or previous schema left behind


def test_a_failure_before_the_swap_leaves_the_published_schema_as_it_was(pg: dict[str, Any]) -> None:
    params = pg["params"]
    _build(params, 2)
    pgpub.publish_postgres(pg["conninfo"], "published", _request("run-1"))
    _build(params, 9)

    def crash() -> None:
        raise RuntimeError("killed before the swap")

    with pytest.raises(RuntimeError, match="killed"):
        pgpub.publish_postgres(pg["conninfo"], "published", _request("run-2"), before_swap=crash)
    assert _published(params)["kpi_a"] == 2
    assert _run(params, "select run_id from published.run_history") == [("run-1",)]
    pgpub.publish_postgres(pg["conninfo"], "published", _request("run-3"))  # the leftover staging is replaced
    assert _published(params)["kpi_a"] == 9


def test_the_swap_waits_for_a_reader_transaction_which_reads_one_run_only(pg: dict[str, Any]) -> None:
    params = pg["params"]
    _build(params, 2)
    pgpub.publish_postgres(pg["conninfo"], "published", _request("run-1"))
    _build(params, 3)
    reader = _connect(params)
    done = threading.Event()
    try:
        with reader.cursor() as cur:
            cur.execute("select count(*) from published.kpi_a")  # the reader's transaction holds kpi_a
            first = cur.fetchone()[0]
            worker = threading.Thread(
                target=lambda: (
                    pgpub.publish_postgres(pg["conninfo"], "published", _request("run-2")),
                    done.set(),
                )
            )
            worker.start()
            time.sleep(1.5)
            assert not done.is_set()  # the swap waits for the reader
            cur.execute("select count(*) from published.kpi_b")  # the same run's other table
            second = cur.fetchone()[0]
        reader.commit()
    finally:
        reader.close()
    worker.join(30)
    assert done.is_set()
    assert (first, second) == (2, 2)
    assert _published(params)["kpi_b"] == 3


def test_a_swap_that_cannot_get_its_locks_gives_up_and_changes_nothing(
    pg: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    params = pg["params"]
    _build(params, 2)
    pgpub.publish_postgres(pg["conninfo"], "published", _request("run-1"))
    _build(params, 4)
    monkeypatch.setattr(pgpub, "LOCK_TIMEOUT", "200ms")
    monkeypatch.setattr(pgpub, "SWAP_ATTEMPTS", 2)
    monkeypatch.setattr(pgpub.time, "sleep", lambda _s: None)
    reader = _connect(params)
    try:
        with reader.cursor() as cur:
            cur.execute("select count(*) from published.run_history")
            with pytest.raises(pgpub.PostgresPublishError, match="after 2 attempts"):
                pgpub.publish_postgres(pg["conninfo"], "published", _request("run-2"))
        reader.commit()
    finally:
        reader.close()
    assert _published(params)["kpi_a"] == 2
    assert _run(params, "select run_id from published.run_history") == [("run-1",)]


def test_a_reader_role_keeps_its_access_across_publishes(
    pg: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    params = pg["params"]
    role = f"bi_reader_{params['dbname'][-8:]}"
    _run(params, f"drop role if exists {role}", f"create role {role}")
    try:
        monkeypatch.setenv(pgpub.READER_ROLE_ENV, role)
        for run in ("run-1", "run-2"):
            _build(params, 1)
            pgpub.publish_postgres(pg["conninfo"], "published", _request(run))
            granted = _run(
                params,
                f"select has_schema_privilege('{role}', 'published', 'USAGE'), "
                f"has_table_privilege('{role}', 'published.kpi_a', 'SELECT'), "
                f"has_table_privilege('{role}', 'published.kpi_a', 'INSERT')",
            )
            assert granted == [(True, True, False)]
    finally:
        _run(params, "drop schema if exists published cascade", f"drop role if exists {role}")
