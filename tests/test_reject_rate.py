"""The reject rate: a load whose batches are all, or mostly, rejected is a broken extract (error),
which the expectations cannot see because they judge only the rows that loaded."""

from __future__ import annotations

from datetime import date

import pytest

from orchestration.ingestion.loader import BatchResult, load_batches
from orchestration.quality.landing import read_batch_frame, reject_rate_outcome, validate_landing
from orchestration.settings import Settings
from tests.landing_batches import CURRENCIES, ENGINES, OPP


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each test taking ``engine`` runs once per engine."""
    return request.param


def batch(day: int, source: int, rejected: int) -> BatchResult:
    return BatchResult(
        "Opportunity", date(2025, 1, day), ("f.csv",), source, source - rejected, rejected, found=True
    )


def test_reject_rate_passes_at_the_limit_and_fails_above_it():
    at_limit = reject_rate_outcome([batch(2, 200, 10)], 0.05)  # 10/200 = 5%: not above
    assert at_limit.success and at_limit.name == "reject_rate_within_limit" and at_limit.severity == "error"
    above = reject_rate_outcome([batch(2, 200, 11)], 0.05)  # 5.5%
    assert not above.success
    assert above.details["batches_over_limit"] == [
        {
            "object": "Opportunity",
            "extract_date": "2025-01-02",
            "source_rows": 200,
            "rejected_rows": 11,
            "reject_rate": 0.055,
        }
    ]


def test_small_batches_fail_only_when_every_row_is_rejected():
    # 1 bad row of 3 (33%) is an ordinary reject in a small batch; 3 of 3 is a broken extract.
    assert reject_rate_outcome([batch(2, 3, 1)], 0.05).success
    assert not reject_rate_outcome([batch(2, 3, 3)], 0.05).success
    # The threshold for judging the rate is the batch size: 99 rows are small, 100 are not.
    assert reject_rate_outcome([batch(2, 99, 9)], 0.05).success
    assert not reject_rate_outcome([batch(2, 100, 9)], 0.05).success


def test_reject_rate_is_judged_per_batch_and_for_the_whole_load():
    # 3 rejects of 103 rows overall (2.9%), but the second batch is all rejects.
    outcome = reject_rate_outcome([batch(2, 100, 0), batch(3, 3, 3)], 0.05)
    assert not outcome.success
    assert outcome.details["reject_rate"] == round(3 / 103, 6)
    assert [b["extract_date"] for b in outcome.details["batches_over_limit"]] == ["2025-01-03"]
    # No single batch is large enough to be judged by rate, but together 12 of 120 (10%) is too many.
    many_small = [batch(d, 20, 2) for d in range(2, 8)]
    whole = reject_rate_outcome(many_small, 0.05)
    assert not whole.success and whole.details["batches_over_limit"] == []


def test_reject_rate_of_empty_or_missing_batches_passes():
    assert reject_rate_outcome([batch(2, 0, 0)], 0.0).success
    assert reject_rate_outcome([], 0.0).success


def test_reject_rate_default_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("SALES_WH_MAX_REJECT_RATE", raising=False)
    assert Settings.from_env().max_reject_rate == 0.05
    assert reject_rate_outcome([batch(2, 100, 10)]).success is False  # 10% > 5%
    monkeypatch.setenv("SALES_WH_MAX_REJECT_RATE", "0.2")
    assert Settings.from_env().max_reject_rate == 0.2
    assert reject_rate_outcome([batch(2, 100, 10)]).success
    monkeypatch.setenv("SALES_WH_MAX_REJECT_RATE", "5")
    with pytest.raises(ValueError, match="SALES_WH_MAX_REJECT_RATE"):
        Settings.from_env()


def test_a_batch_of_only_rejects_passes_the_frame_checks_but_not_the_reject_rate(warehouse, tmp_path, engine):
    f = tmp_path / "Opportunity" / "2025-01-02" / "o.csv"
    f.parent.mkdir(parents=True)
    header = "Id,StageName,CloseDate,CreatedDate,OwnerId\n"
    rows = "0061,Prospecting,2025-02-30,2025-01-02,005a\n,Prospecting,2025-02-01,2025-01-02,005a\n"
    f.write_text(header + rows)
    results = load_batches(warehouse, OPP, tmp_path, [date(2025, 1, 2)])
    frame = read_batch_frame(warehouse, OPP, [date(2025, 1, 2)])
    assert frame.empty
    outcomes = validate_landing(
        warehouse, OPP, [date(2025, 1, 2)], known_currencies=CURRENCIES, engine=engine
    )
    assert outcomes and all(o.success for o in outcomes)  # nothing loaded: nothing to fail on
    outcome = reject_rate_outcome(results, 0.05)
    assert not outcome.success
    assert (outcome.details["source_rows"], outcome.details["rejected_rows"]) == (2, 2)
