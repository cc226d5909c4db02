"""An event's time broken into hops, from synthetic stamps whose hops are known."""

import pytest

from bench import hops, report
from bench.tests.test_targets import results

STEADY = {  # seconds each hop takes
    "produce": 0.0005,
    "fetch": 0.005,
    "transaction": 0.003,
    "relay_wake": 0.001,
    "relay_send": 0.0002,
    "ack": 0.002,
    "readable": 0.004,
}
JUDGED = ("produce", "fetch", "transaction", "relay_wake", "relay_send")  # scheduled -> sent


def stamped(durations: dict[str, float], scheduled: float) -> dict[str, float]:
    """The stamps of an event whose hops take ``durations``."""
    stamps = {"scheduled": scheduled}
    at = scheduled
    for name, _, end, _ in hops.HOPS:
        at += durations[name]
        stamps[end] = at
    return stamps


def run(slow_wake: float = 0.05) -> dict[str, dict[str, float]]:
    """500 events 10 ms apart, their fetch a few microseconds apart (no two alike); in the last fifth, one in ten
    waits ``slow_wake`` for the relay."""
    events = {}
    for i in range(500):
        durations = STEADY | {"fetch": STEADY["fetch"] + (i % 50) * 1e-6}
        if i >= 400 and i % 10 == 0:
            durations["relay_wake"] = slow_wake
        events[f"e{i}"] = stamped(durations, 100.0 + i * 0.01)
    return events


def test_each_hop_is_the_time_between_its_two_stamps() -> None:
    found = hops.breakdown(run())
    whole = found["whole"]["hops"]
    for name, seconds in STEADY.items():
        assert whole[name]["n"] == 500
        assert whole[name]["p50_ms"] == pytest.approx(seconds * 1000, abs=0.05)
    assert whole["relay_wake"]["p99_ms"] == pytest.approx(50)
    assert found["whole"]["end_to_end"]["p50_ms"] == pytest.approx(sum(STEADY[h] for h in JUDGED) * 1000, abs=0.05)


def test_the_run_is_cut_into_fifths_by_scheduled_time() -> None:
    windows = hops.breakdown(run())["windows"]
    assert [w["n"] for w in windows] == [100] * 5
    assert [w["from_s"] for w in windows] == pytest.approx([0, 1, 2, 3, 4], abs=0.05)
    for w in windows[:4]:
        assert w["hops"]["relay_wake"]["p99_ms"] == pytest.approx(1)
    assert windows[4]["hops"]["relay_wake"]["p99_ms"] == pytest.approx(50)


def test_the_tail_is_where_its_time_went() -> None:
    found = hops.breakdown(run())
    last = found["windows"][4]
    # The slowest 1% of the last fifth is a slow one: its relay hop is the tail's; the fifths before have none.
    assert last["tail_n"] >= 1
    assert last["hops"]["relay_wake"]["tail_ms"] == pytest.approx(50)
    assert last["hops"]["fetch"]["tail_ms"] == pytest.approx(5, abs=0.1)
    assert found["windows"][0]["hops"]["relay_wake"]["tail_ms"] == pytest.approx(1)
    assert found["whole"]["hops"]["relay_wake"]["tail_ms"] == pytest.approx(50)
    # The hops up to the record's timestamp add up, in the tail as for every event, to the latency judged.
    for part in [found["whole"], *found["windows"]]:
        assert sum(part["hops"][h]["tail_ms"] for h in JUDGED) == pytest.approx(part["end_to_end"]["tail_ms"])


def test_an_event_missing_a_stamp_counts_in_the_hops_it_has() -> None:
    events = run()
    del events["e7"]["acked"]
    del events["e8"]["taken_up"]
    whole = hops.breakdown(events)["whole"]["hops"]
    assert whole["ack"]["n"] == 499 and whole["readable"]["n"] == 499
    assert whole["fetch"]["n"] == 499 and whole["transaction"]["n"] == 499
    assert whole["produce"]["n"] == 500
    assert hops.breakdown({})["windows"] == []


def test_the_table_shows_each_hop_for_the_system_and_the_bare_pipeline() -> None:
    r = results()
    r["latency"]["200"]["hops"] = hops.breakdown(run())
    r["bare_latency"]["200"]["hops"] = hops.breakdown(run(slow_wake=0.001))
    lines = report.hop_rows(r)
    assert lines[1].startswith("  where the time goes at 200/s")
    assert len(lines) == 3 + 2 * (len(hops.HOPS) + 1)
    relay = next(line for line in lines if line.startswith("  written -> read by the relay"))
    bare_relay = lines[lines.index(relay) + 1]
    assert bare_relay.split()[:2] == ["bare", "pipeline"]
    *fifths, whole, tail = relay.split()[6:]
    assert fifths == ["1.0/1.0"] * 4 + ["1.0/50.0"] and whole == "1.0/50.0" and tail == "50.0"
    assert bare_relay.split()[-2:] == ["1.0/1.0", "1.0"]
    assert any(line.startswith("  end to end (scheduled -> sent)") for line in lines)
    assert not any("1000/s" in line for line in lines)  # no hops measured at 1,000/s: no block
