"""``make bench``: every figure of issue 9 in one run, written to bench/results.md with its plots.

    python -m bench [--quick] [--rounds N] [--out DIR]

Quick mode runs fewer rounds, trials and seconds (the figures keep their definitions; the samples are
smaller). Everything is measured in the same run, on this machine; nothing is copied from earlier runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import crash, speed
from bench.scenario import REPO

OUT = REPO / "bench"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def begin(figure: str) -> None:
    """Start a figure. This process plays Telegram: the objects earlier figures left behind are frozen
    out of its garbage collector, whose pauses would otherwise hold back updates and then deliver them
    to the bot in bursts (P5's handler p99 went from about 120 to 45 ms when measured after P1 and P3)."""
    gc.collect()
    gc.freeze()
    log(figure)


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    disk = "unknown"
    try:
        device = subprocess.run(
            ["df", "--output=source", tempfile.gettempdir()], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        name = Path(device).name
        rotational = Path(f"/sys/block/{name}/queue/rotational")
        kind = {"0": "SSD or virtual, non-rotational", "1": "reported as rotational"}.get(
            rotational.read_text().strip() if rotational.exists() else "", "unknown type"
        )
        disk = f"{device} ({kind}; virtual disks often report rotational)"
    except (OSError, subprocess.CalledProcessError, IndexError):
        pass
    import sqlite3

    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": memory,
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "OS": f"{platform.system()} {platform.release()}",
        "disk": disk,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    work = Path(tempfile.mkdtemp(prefix="haven-bench-", dir=args.work))
    results: dict[str, Any] = {"quick": quick, "machine": machine()}
    started = time.monotonic()
    try:
        begin("P5b: raw SQLite commits against durable case commits")
        raw = speed.raw_sqlite_commits(work / "raw", 3.0)
        cases = 500 if quick else 2000
        batched = await speed.case_commits(work / "commits", cases)
        single = await speed.case_commits(work / "commits1", cases // 4, batch=1)
        results["p5b"] = {"raw": raw, "haven": batched, "haven_unbatched": single, "ratio": batched / raw}

        begin("seeding 10,000 open cases")
        seeded = await speed.seed(work / "seed", 10_000, age=timedelta(minutes=6))

        begin("P7 and recovery: start with 10,000 open cases")
        results["p7"] = await speed.p7(seeded, work / "p7", runs=1 if quick else 3)

        begin("P3: escalation lateness over 10,000 open cases")
        results["p3"] = await speed.p3(seeded, work / "p3", window=60.0)

        begin("P1: final message to first page at 25 new cases/s")
        results["p1"] = await speed.p1(work / "p1", seconds=8 if quick else 30)

        begin("P2: an emergency behind 1,000 queued messages")
        results["p2"] = await speed.p2(work / "p2", trials=6 if quick else 25)

        begin("P5: sustained inbound updates")
        results["p5"] = await speed.p5(work / "p5", seconds=4 if quick else 10, burst=2000 if quick else 6000)

        begin("P6: memory per open conversation")
        results["p6"] = await speed.p6(work / "p6", conversations=10_000)

        begin("baseline: quick-report throughput, Haven and python-telegram-bot")
        reports = 300 if quick else 1000
        ours = await speed.quick_report_throughput(work / "tp-haven", "haven", reports)
        theirs = await speed.quick_report_throughput(work / "tp-ptb", "baseline", reports)
        results["throughput"] = {"reports": reports, "haven": ours, "baseline": theirs, "ratio": ours / theirs}

        rounds = args.rounds or (20 if quick else 200)
        begin(f"crash harness: Haven, {rounds} rounds")
        results["crash"] = await crash.run(crash.HavenBot(), work / "crash-haven", rounds, progress=log)
        baseline_rounds = max(5, rounds // 10)
        begin(f"crash harness: baseline, {baseline_rounds} rounds")
        results["crash_baseline"] = await crash.run(
            crash.BaselineBot(), work / "crash-ptb", baseline_rounds, progress=log
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
    results["seconds"] = time.monotonic() - started
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, trials and seconds")
    parser.add_argument("--rounds", type=int, default=0, help="crash rounds (default 200, quick 20; up to 1000)")
    parser.add_argument("--out", type=Path, default=OUT, help="where results.md and the plots go")
    parser.add_argument("--work", default=None, help="scratch folder (default: the system's temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    if args.rounds and not 1 <= args.rounds <= 1000:
        parser.error("--rounds must be between 1 and 1000")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for noisy in ("aiohttp", "apscheduler", "bot", "adapters", "httpx", "telegram"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    results = asyncio.run(run(args))
    from bench import report

    args.out.mkdir(parents=True, exist_ok=True)
    report.write(results, args.out)
    log(f"wrote {args.out / 'results.md'} in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
