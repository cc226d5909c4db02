"""The targets as ratios of one run's figures, and the verdicts the table prints."""

from typing import Any

from bench import report


def _latency(p50: float, p99: float, rate: float) -> dict[str, Any]:
    return {"n": 100, "p50_ms": p50, "p95_ms": p99, "p99_ms": p99, "max_ms": p99, "achieved_per_s": rate}


def results(**changes: Any) -> dict[str, Any]:
    """A run's results as bench/run.py leaves them, with made-up figures."""
    throughput = {"events": 40_000, "seconds": 8.0, "events_per_s": 5_000.0, "images_per_s": 2_500.0}
    r: dict[str, Any] = {
        "meta": {"scale": 1, "cpus": 2, "started": "2026-12-07 12:00 UTC"},
        "bare": {"events": 40_000, "seconds": 4.0, "events_per_s": 10_000.0, "images_per_s": 5_000.0},
        "throughput": throughput,
        "scale_out": {"1": throughput, "2": throughput},
        "cascade": {"backups": 10_000, "seconds": 4.0, "cascades_per_s": 2_500.0},
        "latency": {"50": _latency(9, 20, 50), "200": _latency(10, 30, 200), "1000": _latency(30, 100, 1000)},
        "bare_latency": {"200": _latency(8, 20, 200), "1000": _latency(20, 50, 1000)},
        "http": {**_latency(15, 25, 20), "offered_per_s": 20},
        "growth": {
            "small": {**_latency(10, 20, 50), "stored": 10_300, "offered_per_s": 50},
            "big": {**_latency(11, 22, 50), "stored": 200_300, "offered_per_s": 50},
        },
    }
    r.update(changes)
    return r


def by_name(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["target"]: t for t in found}


def test_a_ratio_target_holds_up_to_its_limit_and_not_beyond() -> None:
    at_most = report.ratio_target("t", 30, 20, 1.5, at_least=False, measured="")
    assert at_most["ratio"] == 1.5 and at_most["pass"]
    assert not report.ratio_target("t", 30.1, 20, 1.5, at_least=False, measured="")["pass"]
    assert report.ratio_target("t", 5_000, 10_000, 0.5, at_least=True, measured="")["pass"]
    assert not report.ratio_target("t", 4_999, 10_000, 0.5, at_least=True, measured="")["pass"]


def test_a_target_the_run_did_not_measure_fails() -> None:
    for value, reference in ((None, 20.0), (30.0, None), (30.0, 0.0)):
        t = report.ratio_target("t", value, reference, 1.5, at_least=False, measured="p99")
        assert t["ratio"] is None and not t["pass"] and t["measured"] == "not measured"


def test_the_latency_targets_are_ratios_to_the_bare_pipeline_at_the_same_rate() -> None:
    found = by_name(report.targets(results()))
    at_200 = found["p99 ImageRequested->ImageCreated at 200/s <= 1.5x the bare pipeline's"]
    assert at_200["ratio"] == 30 / 20 and at_200["limit"] == 1.5 and at_200["pass"]
    at_1000 = found["p99 ImageRequested->ImageCreated at 1000/s <= 2x the bare pipeline's"]
    assert at_1000["ratio"] == 100 / 50 and at_1000["limit"] == 2.0 and at_1000["pass"]
    assert not any("50 ms" in name for name in found)  # no absolute latency target is left

    slower = results()
    slower["latency"]["1000"] = _latency(30, 101, 1000)
    slower["bare_latency"]["200"] = _latency(8, 19, 200)
    found = by_name(report.targets(slower))
    assert not found["p99 ImageRequested->ImageCreated at 1000/s <= 2x the bare pipeline's"]["pass"]
    assert not found["p99 ImageRequested->ImageCreated at 200/s <= 1.5x the bare pipeline's"]["pass"]


def test_a_latency_target_without_the_bare_pipeline_at_its_rate_fails() -> None:
    r = results()
    del r["bare_latency"]["1000"]
    t = by_name(report.targets(r))["p99 ImageRequested->ImageCreated at 1000/s <= 2x the bare pipeline's"]
    assert t["ratio"] is None and not t["pass"]


def test_the_throughput_and_growth_targets_keep_their_limits() -> None:
    found = report.targets(results(cascade={"backups": 10_000, "seconds": 4.0, "cascades_per_s": 2_400.0}))
    creation, cascade, *_, growth = found
    assert creation["ratio"] == 0.5 and creation["limit"] == 0.5 and creation["pass"]
    assert cascade["ratio"] == 0.24 and cascade["limit"] == 0.25 and not cascade["pass"]
    assert growth["ratio"] == 11 / 10 and growth["limit"] == 1.2 and growth["pass"]
    assert len(found) == 5


def test_the_table_prints_each_ratio_with_its_verdict() -> None:
    r = results()
    r["latency"]["200"] = _latency(10, 31, 200)
    del r["bare_latency"]["1000"]
    r["targets"] = report.targets(r)
    lines = report.table(r).splitlines()
    verdicts = [line.split()[0] for line in lines[lines.index("  targets") + 1 :] if line.strip()]
    assert verdicts == ["PASS", "PASS", "FAIL", "FAIL", "PASS"]
    text = report.table(r)
    assert "ratio 1.55 (limit 1.5)  p99 31.0 ms / 20.0 ms" in text
    assert "ratio  n/a (limit 2)  not measured" in text
    assert "bare pipeline at 200/s" in text and "bare pipeline at 1000/s" not in text


def test_the_throughput_targets_divide_by_the_mean_of_the_two_bare_runs() -> None:
    after = {"events": 40_000, "seconds": 5.0, "events_per_s": 8_000.0, "images_per_s": 4_000.0}
    r = results(bare_after=after)
    creation, cascade, *_ = report.targets(r)
    assert creation["ratio"] == 5_000 / 9_000 and creation["pass"]
    assert cascade["ratio"] == 2_500 / 9_000 and cascade["pass"]
    r["targets"] = report.targets(r)
    text = report.table(r)
    assert "bare pipeline, before" in text and "bare pipeline, after the cascade" in text
    assert "bare pipeline, the mean of both (the limit)" in text and "9,000" in text
    assert "9,000 events/s (10,000 and 8,000)" in report.partial(r)
