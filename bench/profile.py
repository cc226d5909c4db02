"""``BENCH_PROFILE=1``: every service process sampled with py-spy during the throughput phase.

Each process's stacks are written in py-spy's raw (collapsed) format under ``.run/bench-profiles/`` (open them
with speedscope or inferno), and ``results.json`` gets a summary per process: the functions that were running
(self time) and this project's functions that were on the stack (inclusive), as shares of the samples.
"""

import os
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

PROJECT_CODE = (
    "ims_shared",
    "image_service",
    "backup_service",
    "billing_service",
    "replication_service",
    "compute_service",
)


class Profiler:
    def __init__(self, processes: dict[str, subprocess.Popen[bytes]], out_dir: Path, rate: int = 97) -> None:
        self._processes = dict(processes)
        self._out_dir = out_dir
        self._rate = rate
        self._samplers: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        binary = shutil.which("py-spy") or str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy")
        self._out_dir.mkdir(parents=True, exist_ok=True)
        for label, child in self._processes.items():
            command = [binary, "record", "--pid", str(child.pid), "--rate", str(self._rate), "--nonblocking"]
            self._samplers[label] = subprocess.Popen(
                [*command, "--format", "raw", "--output", str(self._path(label))],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def stop(self) -> dict[str, Any]:
        for sampler in self._samplers.values():
            sampler.send_signal(signal.SIGINT)
        summary: dict[str, Any] = {}
        for label, sampler in self._samplers.items():
            sampler.wait(30)
            path = self._path(label)
            if path.exists():
                summary[label] = summarise(path.read_text())
        return summary

    def _path(self, label: str) -> Path:
        return self._out_dir / f"{label.replace('/', '_')}.txt"


def summarise(collapsed: str, top: int = 12) -> dict[str, Any]:
    """Self and inclusive shares of py-spy's collapsed stacks (``frame;frame;frame count`` per line)."""
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        leaf[frames[-1]] += n
        for frame in set(frames):
            if any(part in frame for part in PROJECT_CODE):
                inclusive[frame] += n

    def shares(counter: Counter[str]) -> list[list[Any]]:
        return [[frame, round(n / total, 3)] for frame, n in counter.most_common(top)] if total else []

    return {"samples": total, "self": shares(leaf), "inclusive_project": shares(inclusive)}


def cpu_seconds(processes: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) used so far by each of ``processes`` (label -> pid) and by every PostgreSQL
    process of the machine (``postgresql/<pid>``: the server is shared; its backends, autovacuum, WAL writer)."""
    out = {label: _used(pid) for label, pid in processes.items()}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _comm(entry) == "postgres":
            out[f"postgresql/{entry.name}"] = _used(int(entry.name))
    return out


def _used(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _comm(entry: Path) -> str:
    try:
        return (entry / "comm").read_text().strip()
    except OSError:
        return ""


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds used by each process between two ``cpu_seconds`` readings, PostgreSQL's summed (a process
    that ended in between is not counted: the figures are lower bounds)."""
    used: dict[str, float] = {}
    for label, seconds in after.items():
        name = label.partition("/")[0]
        used[name] = used.get(name, 0.0) + max(0.0, seconds - before.get(label, 0.0))
    return {name: round(seconds, 2) for name, seconds in used.items()}


def cpu_text(cpu: dict[str, float]) -> str:
    """``cpu_used``'s figures, the busiest first."""
    return ", ".join(f"{label} {seconds:.1f}" for label, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]))
