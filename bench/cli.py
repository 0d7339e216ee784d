"""CLI start-up benchmark: ``python -m bench cli [--runs 10]``.

Times ``connector --help`` and one shell-completion request (what every TAB costs: click's ``bash_complete`` for
``connector conn<TAB>``) as new processes, against ``python -c pass`` (the interpreter's own start-up) as the
reference. Prints one JSON object on stdout: the median wall-clock and CPU seconds of each, and the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench._support import machine, report


def connector_command() -> list[str]:
    """The installed ``connector`` script next to this interpreter, else ``python -m connector``."""
    script = Path(sys.executable).parent / "connector"
    if script.exists():
        return [str(script)]
    found = shutil.which("connector")
    return [found] if found else [sys.executable, "-m", "connector"]


def timed(command: list[str], runs: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Median wall-clock and CPU (user + system) seconds of ``command`` over ``runs`` runs, after one warm-up for
    the file cache. CPU time shows the command's own cost on a machine busy with other work."""
    environ = {**os.environ, **(env or {})}
    walls, cpus = [], []
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(command, env=environ, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {result.stderr.strip()}")
        if i:
            walls.append(elapsed)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return round(statistics.median(walls), 3), round(statistics.median(cpus), 3)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench cli")
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (the median is reported)")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; the JSON is always printed")
    args = parser.parse_args(argv)
    connector = connector_command()
    completion = {"_CONNECTOR_COMPLETE": "bash_complete", "COMP_WORDS": "connector conn", "COMP_CWORD": "1"}
    help_wall, help_cpu = timed([*connector, "--help"], args.runs)
    completion_wall, completion_cpu = timed(connector, args.runs, completion)
    pass_wall, pass_cpu = timed([sys.executable, "-c", "pass"], args.runs)
    result = {
        "help_seconds": help_wall,
        "completion_seconds": completion_wall,
        "python_pass_seconds": pass_wall,
        "help_cpu_seconds": help_cpu,
        "completion_cpu_seconds": completion_cpu,
        "python_pass_cpu_seconds": pass_cpu,
        "runs": args.runs,
        "machine": machine(),
    }
    lines = [
        f"connector --help:  {help_wall} s wall, {help_cpu} s CPU (median of {args.runs})",
        f"completion (TAB):  {completion_wall} s wall, {completion_cpu} s CPU",
        f"python -c pass:    {pass_wall} s wall, {pass_cpu} s CPU",
    ]
    report(result, True, lines)
    return 0
