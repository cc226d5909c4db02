"""The results: targets judged as ratios, a table on stdout, results.json and PNG charts under bench/results/."""

import json
from pathlib import Path
from typing import Any

from bench.hops import HOPS, TAIL

RESULTS = Path(__file__).parent / "results"


LATENCY_LIMITS = {"200": 1.5, "1000": 2.0}
"""The latency targets: the system's p99 at each rate at most this many times the bare pipeline's, same rate, run."""


def ratio_target(
    target: str, value: float | None, reference: float | None, limit: float, *, at_least: bool, measured: str
) -> dict[str, Any]:
    """One target: ``value / reference`` against ``limit`` (at least, or at most). A figure the run lacks fails it."""
    if value is None or not reference:
        return {"target": target, "measured": "not measured", "ratio": None, "limit": limit, "pass": False}
    ratio = value / reference
    return {
        "target": target,
        "measured": measured,
        "ratio": ratio,
        "limit": limit,
        "pass": ratio >= limit if at_least else ratio <= limit,
    }


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target as a ratio of two figures of the same run, and whether it holds."""
    return [*throughput_targets(r), *latency_targets(r), growth_target(r)]


def bare_runs(r: dict[str, Any]) -> list[float]:
    """The bare pipeline's throughput (events/s) in each of its runs: before the system's creation phases and, where
    the run has it, right after them (``bare_after``)."""
    return [r[k]["events_per_s"] for k in ("bare", "bare_after") if k in r]


def bare_limit(r: dict[str, Any]) -> float:
    """The bare pipeline's throughput the ratios divide by: the mean of its runs."""
    runs = bare_runs(r)
    return sum(runs) / len(runs)


def throughput_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Creation and the arrears cascade against the bare pipeline, where the run measured them."""
    bare = bare_limit(r)
    found = []
    for phase, figure, unit, target, limit in (
        ("throughput", "events_per_s", "", "image creation throughput >= 0.5x the bare pipeline", 0.5),
        ("cascade", "cascades_per_s", " cascades/s", "arrears cascade >= 0.25x the bare pipeline", 0.25),
    ):
        if phase in r:
            value = r[phase][figure]
            measured = f"{value:,.0f}{unit} / {bare:,.0f} events/s"
            found.append(ratio_target(target, value, bare, limit, at_least=True, measured=measured))
    return found


def latency_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The system's p99 at each rate of LATENCY_LIMITS against the bare pipeline's (a missing figure fails)."""
    found = []
    for rate, limit in LATENCY_LIMITS.items():
        p99 = r.get("latency", {}).get(rate, {}).get("p99_ms")
        floor = r.get("bare_latency", {}).get(rate, {}).get("p99_ms")
        found.append(
            ratio_target(
                f"p99 ImageRequested->ImageCreated at {rate}/s <= {limit:g}x the bare pipeline's",
                p99,
                floor,
                limit,
                at_least=False,
                measured=f"p99 {p99 or 0:,.1f} ms / {floor or 0:,.1f} ms",
            )
        )
    return found


def growth_target(r: dict[str, Any]) -> dict[str, Any]:
    small, big = r["growth"]["small"], r["growth"]["big"]
    return ratio_target(
        f"latency with {big['stored']:,} images <= 1.2x with {small['stored']:,} (p50 at {big['offered_per_s']:g}/s)",
        big["p50_ms"],
        small["p50_ms"],
        1.2,
        at_least=False,
        measured=f"p50 {big['p50_ms']:,.1f} ms / {small['p50_ms']:,.1f} ms",
    )


def target_line(t: dict[str, Any]) -> str:
    """A target as the table prints it: PASS or FAIL, the target, its ratio and limit, the figures."""
    verdict = "PASS" if t["pass"] else "FAIL"
    ratio = "ratio  n/a" if t["ratio"] is None else f"ratio {t['ratio']:.2f}"
    return f"  {verdict}  {t['target']:<72} {ratio} (limit {t['limit']:g})  {t['measured']}"


def _lat_row(name: str, s: dict[str, Any]) -> str:
    return (
        f"  {name:<44}{s['n']:>7,}{s['p50_ms']:>10.1f}{s['p95_ms']:>10.1f}{s['p99_ms']:>10.1f}{s['max_ms']:>10.1f}"
        f"{s.get('achieved_per_s', 0):>10.0f}"
    )


def table(r: dict[str, Any]) -> str:
    m = r["meta"]
    lines = [
        "",
        f"Benchmark (scale {m['scale']:g}, {m['cpus']} CPUs, {m.get('cpu_busy_before', 0):.0%} busy before the start)"
        f" - {m['started']}",
    ]
    if "python_speed_ms" in m:
        lines.append(
            f"  this machine: the reference Python loop in {m['python_speed_ms']:g} ms, "
            f"a PostgreSQL round trip {m['postgres_round_trip_us']:g} us"
            + (f" over {m['postgres_over']}" if "postgres_over" in m else "")
        )
    lines.append("")
    lines.append(f"  {'throughput':<44}{'events':>9}{'seconds':>10}{'events/s':>11}{'images/s':>11}{'vs bare':>9}")
    bare = bare_limit(r)

    def row(name: str, s: dict[str, Any]) -> str:
        return (
            f"  {name:<44}{s['events']:>9,}{s['seconds']:>10.2f}{s['events_per_s']:>11,.0f}{s['images_per_s']:>11,.0f}"
            f"{s['events_per_s'] / bare:>9.0%}"
        )

    if "bare_after" in r:
        lines.append(row("bare pipeline, before", r["bare"]))
        lines.append(row("bare pipeline, after the cascade", r["bare_after"]))
        lines.append(f"  {'bare pipeline, the mean of both (the limit)':<63}{bare:>11,.0f}{'':>11}{1:>9.0%}")
    else:
        lines.append(row("bare pipeline (limit)", r["bare"]))
    lines.append(row("image creation, 1 image-service", r["throughput"]))
    lines.append(row("scale-out: 1 image-service", r["scale_out"]["1"]))
    lines.append(row("scale-out: 2 image-services, one group", r["scale_out"]["2"]))
    c = r["cascade"]
    lines.append(
        f"  {'arrears cascade (BackupArrears->ImageDeleted)':<44}{c['backups']:>9,}{c['seconds']:>10.2f}"
        f"{c['cascades_per_s']:>11,.0f}{'':>11}{c['cascades_per_s'] / bare:>9.0%}"
    )
    lines += ["", f"  {'latency (ms)':<44}{'n':>7}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}{'rate/s':>10}"]
    for rate, s in r["latency"].items():
        floor = r.get("bare_latency", {}).get(rate)
        if floor:
            lines.append(_lat_row(f"bare pipeline at {rate}/s", floor))
        lines.append(_lat_row(f"ImageRequested->ImageCreated at {rate}/s", s))
        if rate == "200":
            lines += _slice_rows(s)
    lines.append(_lat_row(f"POST wholeimages->job SUCCESS at {r['http']['offered_per_s']:g}/s", r["http"]))
    for key in ("small", "big"):
        g = r["growth"][key]
        runs = f", {len(g['runs'])} runs" if len(g.get("runs", ())) > 1 else ""
        lines.append(_lat_row(f"at {g['offered_per_s']:g}/s, {g['stored']:,} images stored{runs}", g))
    lines += hop_rows(r)
    lines += ["", "  targets"]
    lines += [target_line(t) for t in r["targets"]]
    lines.append("")
    return "\n".join(lines)


def partial(r: dict[str, Any]) -> str:
    """What a partial run (BENCH_PHASES) measured: its throughput and latency rows, the CPU seconds each process
    used in each phase, the hops, and the targets whose two figures it has."""
    bare = bare_limit(r)
    runs = " and ".join(f"{run:,.0f}" for run in bare_runs(r))
    lines = ["", f"Partial benchmark - {r['meta']['started']}", f"  bare pipeline: {bare:,.0f} events/s ({runs})"]
    measured = {"throughput": r.get("throughput"), "cascade": r.get("cascade")}
    measured |= {f"latency {k}/s": v for k, v in r.get("latency", {}).items()}
    measured |= {f"bare latency {k}/s": v for k, v in r.get("bare_latency", {}).items()}
    for name, s in measured.items():
        if not s:
            continue
        figure = s.get("events_per_s") or s.get("cascades_per_s")
        head = (
            f"{figure:,.0f}/s ({figure / bare:.2f} of bare)"
            if figure
            else f"p50 {s['p50_ms']:.1f} p99 {s['p99_ms']:.1f} ms"
        )
        cpu = ", ".join(f"{k.split('[')[0]} {v:g}" for k, v in (s.get("cpu_s") or {}).items())
        lines.append(f"  {name:<22}{head}" + (f"   CPU s: {cpu}" if cpu else ""))
    lines += hop_rows(r)
    judged = [t for t in throughput_targets(r) + latency_targets(r) if t["ratio"] is not None]
    lines += ["", "  targets it can judge"] + [target_line(t) for t in judged] + [""]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"


def _hop_cells(found: dict[str, Any], hop: str | None) -> str:
    """One hop's (``None``: end to end) p50/p99 in each window and over the run, and its mean over the tail."""

    def stats(part: dict[str, Any]) -> dict[str, Any]:
        return part["end_to_end"] if hop is None else part["hops"].get(hop, {})

    cells = []
    for part in [*found["windows"], found["whole"]]:
        s = stats(part)
        cells.append(f"{_ms(s.get('p50_ms'))}/{_ms(s.get('p99_ms'))}" if s.get("n") else "-")
    tail = stats(found["whole"]).get("tail_ms")
    return "".join(f"{c:>12}" for c in cells) + f"{_ms(tail):>8}"


def _span_label(window: dict[str, Any]) -> str:
    return f"{window['from_s']:g}-{window['to_s']:g} s"


def hop_rows(r: dict[str, Any]) -> list[str]:
    """Where an event's time goes at each rate with a latency target: each hop (bench/hops.py) by fifth of the run
    and over it, the system's row with the bare pipeline's below it."""
    lines = []
    for rate in LATENCY_LIMITS:
        system = r.get("latency", {}).get(rate, {}).get("hops")
        bare = r.get("bare_latency", {}).get(rate, {}).get("hops")
        if not system or not system.get("windows"):
            continue
        lines += [
            "",
            f"  where the time goes at {rate}/s (ms): each hop's p50/p99 by fifth of the run and over it; "
            f"tail: its mean over the run's slowest {100 - TAIL}%",
            f"  {'hop':<40}"
            + "".join(f"{_span_label(w):>12}" for w in system["windows"])
            + f"{'whole':>12}{'tail':>8}",
        ]
        rows: list[tuple[str | None, str]] = []
        for name, _, _, label in HOPS:
            rows.append((name, label))
            if name == "relay_send":  # the hops so far add up to the latency judged; the rest come after it
                rows.append((None, "end to end (scheduled -> sent)"))
        for hop, label in rows:
            lines.append(f"  {label:<40}{_hop_cells(system, hop)}")
            if bare and bare.get("windows"):
                lines.append(f"  {'  bare pipeline':<40}{_hop_cells(bare, hop)}")
    return lines


def _slice_rows(s: dict[str, Any]) -> list[str]:
    """The run's first and last slices: how far latency moved within it (the broker's store grows, README)."""
    windows = [w for w in s.get("windows", ()) if w.get("n")]
    if len(windows) < 2:
        return []
    rows = []
    for which, w in (("first", windows[0]), ("last", windows[-1])):
        name = f"  its {which} {w['to_s'] - w['from_s']:.0f} s"
        rows.append(_lat_row(name, {**w, "achieved_per_s": s.get("achieved_per_s", 0)}))
    return rows


def write_json(r: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "results.json"
    path.write_text(json.dumps(r, indent=2, sort_keys=False) + "\n")
    return path


def plot(r: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(parents=True, exist_ok=True)
    written = []
    bare = bare_limit(r)

    fig, ax = plt.subplots(figsize=(9, 4.8))
    names = [
        "bare pipeline",
        "image creation\n1 instance",
        "scale-out\n1 instance",
        "scale-out\n2 instances",
        "arrears cascade",
    ]
    values = [
        bare,
        r["throughput"]["events_per_s"],
        r["scale_out"]["1"]["events_per_s"],
        r["scale_out"]["2"]["events_per_s"],
        r["cascade"]["cascades_per_s"],
    ]
    bars = ax.bar(names, values, color=["#555555", "#1f77b4", "#6baed6", "#08519c", "#d62728"])
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            f"{value:,.0f}\n{value / bare:.0%}",
            (bar.get_x() + bar.get_width() / 2, value),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.axhline(0.5 * bare, color="#1f77b4", linestyle="--", linewidth=1, label="target: 50% of bare (creation)")
    ax.axhline(0.25 * bare, color="#d62728", linestyle=":", linewidth=1, label="target: 25% of bare (cascade)")
    ax.set_ylabel("events/s (cascade: backups/s)")
    ax.set_title("Throughput beside the bare limit of the same Kafka (Tansu) and PostgreSQL")
    ax.set_ylim(0, max(values) * 1.25)
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(RESULTS / "throughput.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4.8))
    series = []
    for k, s in r["latency"].items():
        if k in r.get("bare_latency", {}):
            series.append((f"bare\n{k}/s", r["bare_latency"][k]))
        series.append((f"{k}/s", s))
    series.append((f"HTTP\n{r['http']['offered_per_s']:g}/s", r["http"]))
    series += [
        (f"{r['growth'][k]['offered_per_s']:g}/s\n{r['growth'][k]['stored']:,} stored", r["growth"][k])
        for k in ("small", "big")
    ]
    width = 0.2
    for i, (label, color) in enumerate(
        [("p50_ms", "#9ecae1"), ("p95_ms", "#4292c6"), ("p99_ms", "#08519c"), ("max_ms", "#bbbbbb")]
    ):
        xs = [j + (i - 1.5) * width for j in range(len(series))]
        ax.bar(xs, [s[label] for _, s in series], width, label=label.replace("_ms", ""), color=color)
    for (rate, limit), style in zip(LATENCY_LIMITS.items(), ("--", ":"), strict=True):
        floor = r.get("bare_latency", {}).get(rate, {}).get("p99_ms")
        if floor:
            ax.axhline(
                limit * floor,
                color="#d62728",
                linestyle=style,
                linewidth=1,
                label=f"target p99 at {rate}/s: {limit:g}x bare",
            )
    ax.set_xticks(range(len(series)), [name for name, _ in series], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ms (log scale)")
    ax.set_title("Latency: ImageRequested -> ImageCreated at fixed offered loads; HTTP POST -> job SUCCESS")
    ax.legend(fontsize=8, ncol=5)
    fig.tight_layout()
    written.append(RESULTS / "latency.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4.8))
    for name, key, color in [
        ("bare pipeline", r["bare"], "#555555"),
        ("image creation, 1 instance", r["throughput"], "#1f77b4"),
        ("scale-out, 2 instances", r["scale_out"]["2"], "#08519c"),
        ("arrears cascade", r["cascade"], "#d62728"),
    ]:
        times = key["timeline_s"]
        total = key["timeline_total"]
        ax.plot(times, [total * (i + 1) / len(times) for i in range(len(times))], label=name, color=color)
    ax.set_xlabel("seconds since the first event was produced")
    ax.set_ylabel("input events done (cascade: backups)")
    ax.set_title("Completion over time")
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(RESULTS / "timeline.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written
