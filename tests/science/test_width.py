"""dln.science.width (``dln reproduce width``) at a CI size: the record, its checks and its figures."""

import json

import pytest

from dln.science import width as we


@pytest.fixture(scope="module")
def record():
    return we.width(widths=[64], dense_budget_s=0.0, timeout=120)


def test_record_is_json_and_complete(record):
    summary = json.loads(json.dumps(record.summary()))
    runs = {r["method"]: r for r in summary["runs"]}
    assert set(runs) == set(we.METHODS)
    assert runs["implicit"]["status"] == runs["compressed"]["status"] == "converged"
    # the same trajectory (to the O(sqrt(r/d)) overlap of the two inits with the target)
    assert abs(runs["implicit"]["steps"] - runs["compressed"]["steps"]) <= 0.1 * runs["compressed"]["steps"]
    assert runs["dense"]["estimated"] and runs["dense"]["steps"] == runs["implicit"]["steps"]
    for r in runs.values():
        assert r["seconds"] > 0 and r["peak_rss_bytes"] > 0
    assert all(we.checks(summary).values())


def test_figures(record, tmp_path):
    files = we.plot(record, tmp_path)
    assert [f.name for f in files] == ["time_vs_width.png", "memory_vs_width.png"]
    assert all(f.stat().st_size > 1000 for f in files)


def test_bad_method():
    with pytest.raises(ValueError, match="^method:"):
        we.run_one("sideways", 10)
