"""Where an event's time goes: ImageRequested -> ImageCreated broken into hops, from timestamps the run has.

Each event's stamps, in seconds on one clock (the load generator's ``perf_counter``; wall-clock times are moved
onto it):

  scheduled  when the load generator was to produce the request (open loop)
  produced   when it handed the request to its Kafka client
  taken_up   when the consumer's transaction that handled it began (its inbox row's ``received_at``)
  written    when that transaction wrote the ImageCreated outbox row (``written_at``, its last statement)
  read       when the relay's pass that sent the row had read it (``relay_read_at``; the bare pipeline: its
             transaction had committed)
  sent       ImageCreated's record timestamp: when the relay handed it to its Kafka client
  acked      when the broker had acknowledged the relay's pass (``acked_at``)
  readable   when a reader fetching as image-service does got it

The latency the targets judge runs from ``scheduled`` to ``sent``: the first five hops add up to it, event by event.
The last two are what a consumer of ImageCreated waits for besides.
"""

from typing import Any

from bench.traffic import percentiles

HOPS: tuple[tuple[str, str, str, str], ...] = (
    ("produce", "scheduled", "produced", "scheduled -> produced"),
    ("fetch", "produced", "taken_up", "produced -> taken up (txn began)"),
    ("transaction", "taken_up", "written", "taken up -> outbox row written"),
    ("relay_wake", "written", "read", "written -> read by the relay"),
    ("relay_send", "read", "sent", "read -> sent (record timestamp)"),
    ("ack", "sent", "acked", "sent -> acknowledged by the broker"),
    ("readable", "acked", "readable", "acknowledged -> readable"),
)
END_TO_END = ("scheduled", "sent")
"""The latency the targets judge: the sum of the hops from ``produce`` to ``relay_send``."""
TAIL = 99
"""The tail whose hops are averaged: the events at or above this percentile of the end-to-end latency."""


def _span(stamps: dict[str, float], start: str, end: str) -> float | None:
    if start in stamps and end in stamps:
        return stamps[end] - stamps[start]
    return None


def _slice(events: list[dict[str, float]]) -> dict[str, Any]:
    """Each hop's percentiles over ``events``, its mean over their tail, and the end-to-end latency's."""
    ends = [(e, d) for e in events if (d := _span(e, *END_TO_END)) is not None]
    tail: list[tuple[dict[str, float], float]] = []
    if ends:
        ordered = sorted(d for _, d in ends)
        threshold = ordered[max(0, -(-TAIL * len(ordered) // 100) - 1)]  # nearest rank, as percentiles() takes it
        tail = [(e, d) for e, d in ends if d >= threshold]
    hops: dict[str, dict[str, float]] = {}
    for name, start, end, _ in HOPS:
        spans = [d for e in events if (d := _span(e, start, end)) is not None]
        stats = {k: v for k, v in percentiles(spans).items() if k in ("n", "p50_ms", "p99_ms")}
        tail_spans = [d for e, _ in tail if (d := _span(e, start, end)) is not None]
        if tail_spans:
            stats["tail_ms"] = sum(tail_spans) / len(tail_spans) * 1000
        hops[name] = stats
    end_to_end = {k: v for k, v in percentiles([d for _, d in ends]).items() if k in ("n", "p50_ms", "p99_ms")}
    if tail:
        end_to_end["tail_ms"] = sum(d for _, d in tail) / len(tail) * 1000
    return {"n": len(events), "tail_n": len(tail), "hops": hops, "end_to_end": end_to_end}


def breakdown(stamps: dict[str, dict[str, float]], windows: int = 5) -> dict[str, Any]:
    """The hops of ``stamps`` (by event: stamp name -> seconds) over the whole run and in ``windows`` equal slices
    of it by scheduled time (fifths), each slice's start and end in seconds from the first scheduled event. Each hop
    has its p50 and p99, and ``tail_ms``: its mean over the slice's slowest events end to end (``TAIL``), whose
    hops from ``produce`` to ``relay_send`` add up to their mean latency: where the tail's time went."""
    events = [s for s in stamps.values() if "scheduled" in s]
    if not events:
        return {"whole": _slice([]), "windows": []}
    first = min(e["scheduled"] for e in events)
    last = max(e["scheduled"] for e in events)
    width = (last - first) / windows or 1.0
    slices: list[list[dict[str, float]]] = [[] for _ in range(windows)]
    for e in events:
        slices[min(windows - 1, int((e["scheduled"] - first) / width))].append(e)
    return {
        "whole": _slice(events),
        "windows": [
            {"from_s": round(i * width, 1), "to_s": round((i + 1) * width, 1), **_slice(part)}
            for i, part in enumerate(slices)
        ],
    }


def text(found: dict[str, Any]) -> str:
    """The whole run's hops in a line of the log: p50/p99 of each, in ms."""
    whole = found["whole"]["hops"]
    return "hops p50/p99 ms: " + ", ".join(
        f"{name} {whole[name]['p50_ms']:.1f}/{whole[name]['p99_ms']:.1f}"
        for name, *_ in HOPS
        if whole.get(name, {}).get("n")
    )
