"""bench/results.md and the plots behind the latency figures."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.crash import CrashResult
from bench.speed import Figure


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def mark(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def cdf(path: Path, title: str, series: Mapping[str, Sequence[float]], target: float | None = None) -> None:
    figure, axis = plt.subplots(figsize=(7, 4), dpi=110)
    for label, values in series.items():
        ordered = sorted(v * 1000 for v in values)
        if not ordered:
            continue
        fractions = [(i + 1) / len(ordered) for i in range(len(ordered))]
        axis.step(ordered, fractions, where="post", label=f"{label} (n={len(ordered)})")
    if target is not None:
        axis.axvline(target * 1000, color="grey", linestyle="--", linewidth=1, label="target")
    axis.set_xlabel("milliseconds")
    axis.set_ylabel("fraction of samples at or below")
    axis.set_title(title)
    axis.set_ylim(0, 1.01)
    axis.grid(True, alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write(results: dict[str, Any], out: Path) -> None:
    p1: Figure = results["p1"]
    p2: Figure = results["p2"]
    p3: Figure = results["p3"]
    p5: Figure = results["p5"]
    p6: Figure = results["p6"]
    p7: Figure = results["p7"]
    p5b: dict[str, float] = results["p5b"]
    tp: dict[str, float] = results["throughput"]
    ours: CrashResult = results["crash"]
    theirs: CrashResult = results["crash_baseline"]

    cdf(out / "p1_page_latency.png", "P1: final message → first page (25 new cases/s)", p1.samples, 0.150)
    cdf(
        out / "p2_emergency_pages.png",
        "P2: emergency behind 1,000 queued messages",
        {"first page": p2.samples["first"], "all 10 responders": p2.samples["all"]},
        1.0,
    )
    cdf(out / "p3_escalation_lateness.png", "P3: escalation lateness, 10,000 open cases", p3.samples, 0.250)
    cdf(
        out / "p5_inbound_latency.png",
        f"P5: inbound updates at {p5.values['rate']:.0f}/s",
        {"handler (inbox → commit)": p5.samples["handler"], "end to end (queued → commit)": p5.samples["end_to_end"]},
        0.050,
    )

    v1, v2, v3, v5, v6, v7 = p1.values, p2.values, p3.values, p5.values, p6.values, p7.values
    rows = [
        (
            "P1",
            "reporter's final message to first responder page, at 25 new cases/s",
            "p50 ≤ 150 ms, p99 ≤ 1 s",
            f"p50 {ms(v1['p50'])}, p99 {ms(v1['p99'])}, max {ms(v1['max'])} ({v1['paged']:.0f}/{v1['cases']:.0f} cases)",
            mark(v1["p50"] <= 0.150 and v1["p99"] <= 1.0 and v1["paged"] == v1["cases"]),
        ),
        (
            "P2",
            "an emergency filed behind 1,000 queued conversation messages, rate limits enforced",
            "first page ≤ 1 s (p99); all 10 responders ≤ 1.5 s",
            f"first page p99 {ms(v2['first_p99'])} (p50 {ms(v2['first_p50'])}); all 10 p99 {ms(v2['all_p99'])} "
            f"(p50 {ms(v2['all_p50'])}); {v2['trials']:.0f} trials, {v2['violations']:.0f} limit violations, "
            f"{v2['429s']:.0f} answers 429",
            mark(v2["first_p99"] <= 1.0 and v2["all_p99"] <= 1.5 and not v2["violations"]),
        ),
        (
            "P3",
            "escalation lateness over 10,000 open cases",
            "p50 ≤ 50 ms, p99 ≤ 250 ms, max ≤ 1 s, none skipped",
            f"p50 {ms(v3['p50'])}, p99 {ms(v3['p99'])}, max {ms(v3['max'])}, skipped {v3['skipped']:.0f} "
            f"({v3['steps']:.0f} steps due within {v3['window']:.0f} s)",
            mark(v3["p50"] <= 0.05 and v3["p99"] <= 0.25 and v3["max"] <= 1.0 and v3["skipped"] == 0),
        ),
        (
            "P5",
            "sustained inbound updates end to end",
            "≥ 500 updates/s; handler p99 ≤ 50 ms",
            f"{v5['throughput']:.0f} updates/s ({v5['burst']:.0f} at once); at {v5['rate']:.0f}/s: handler p50 "
            f"{ms(v5['handler_p50'])}, p99 {ms(v5['handler_p99'])}; end to end p99 {ms(v5['e2e_p99'])}",
            mark(v5["throughput"] >= 500 and v5["handler_p99"] <= 0.05),
        ),
        (
            "P5b",
            "durable case commits/s against raw SQLite commits/s, same disk, same run",
            "a ratio",
            f"{p5b['haven']:.0f} cases/s (one at a time: {p5b['haven_unbatched']:.0f}/s) against "
            f"{p5b['raw']:.0f} raw commits/s: ratio {p5b['ratio']:.3f}",
            "—",
        ),
        (
            "P6",
            "memory per open conversation, at 10,000 conversations",
            "≤ 8 KiB",
            f"{v6['kib_per_conversation']:.2f} KiB ({v6['conversations']:.0f} open; resident "
            f"{v6['rss_before_mib']:.0f} → {v6['rss_after_mib']:.0f} MiB, peak {v6['peak_mib']:.0f} MiB)",
            mark(v6["kib_per_conversation"] <= 8 and v6["conversations"] >= 10_000),
        ),
        (
            "P7",
            "start to ready with 10,000 open cases",
            "≤ 3 s",
            f"{v7['ready_median']:.2f} s (median of {v7['runs']:.0f})",
            mark(v7["ready_median"] <= 3.0),
        ),
        (
            "R",
            "recovery: start to the first overdue page, 10,000 open cases all overdue",
            "—",
            f"{v7['first_page_median']:.2f} s; all {v7['open_cases']:.0f} overdue steps fired "
            f"{v7['all_overdue_fired_median']:.1f} s after the start",
            "—",
        ),
        (
            "C",
            f"crash harness, {ours.rounds} rounds of SIGKILL",
            "0 lost, 0 processed twice, 0 duplicates, integrity ok",
            f"{ours.lost} lost of {ours.acknowledged} acknowledged; {ours.unprocessed} unprocessed; "
            f"{ours.processed_twice} processed twice; duplicates {ours.duplicate_receipts} receipts, "
            f"{ours.duplicate_cards} cards, {ours.duplicate_pages} pages; integrity ok "
            f"{ours.integrity_checks - ours.integrity_failures}/{ours.integrity_checks}",
            mark(ours.passed),
        ),
        (
            "B1",
            "baseline: quick-report throughput, Haven against python-telegram-bot",
            "a ratio",
            f"Haven {tp['haven']:.1f} reports/s, baseline {tp['baseline']:.1f} reports/s: ratio "
            f"{tp['ratio']:.2f} ({tp['reports']:.0f} reports)",
            "—",
        ),
        (
            "B2",
            "baseline: what a SIGKILL loses (acknowledged reports not in storage)",
            "Haven 0",
            f"Haven {ours.lost} of {ours.acknowledged} ({ours.rounds} kills); baseline {theirs.lost} of "
            f"{theirs.acknowledged} ({theirs.rounds} kills), {theirs.unprocessed} more never answered",
            mark(ours.lost == 0),
        ),
    ]
    missed = [row for row in rows if row[4] != "pass" and row[4] != "—"]
    if v5["throughput"] < v5["rate"]:
        p5_why = f"capacity ({v5['throughput']:.0f} updates/s) is below the offered rate: the inbox queue grows"
    else:
        p5_why = (
            f"capacity ({v5['throughput']:.0f} updates/s, in batches of 64) is above the offered rate, but "
            "at a steady rate batches stay small, each commit serves few updates, and the inbox processor "
            "runs near saturation on one event loop shared with the poller and the sender (and two shared "
            "cores with the fake server)"
        )
    explanations = {
        "P5": f"{p5_why}, and the handler latency is queueing. Durability was not weakened to win it; "
        "see [docs/performance.md](../docs/performance.md#ratios-and-what-they-say).",
    }
    notes = [f"- **{row[0]}**: not met ({row[3]}). {explanations.get(row[0], '')}" for row in missed]
    info = results["machine"]
    lines = [
        "# Haven benchmark results",
        "",
        "Written by `make bench`" + (" (quick mode: smaller samples)" if results["quick"] else "") + ". "
        "How each figure is measured: [docs/performance.md](../docs/performance.md). "
        "These are benchmarks on a shared machine, not timed tests: medians and percentiles of one run.",
        "",
        "| id | figure | target | measured | result |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        *(["## Targets not met", "", *notes, ""] if notes else []),
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in info.items()),
        f"| run took | {results['seconds'] / 60:.1f} min |",
        "",
        "## Crash harness details",
        "",
        "| | Haven | baseline (PTB ConversationHandler + PicklePersistence) |",
        "|---|---|---|",
        *(f"| {what} | {_crash(ours, key)} | {_crash(theirs, key)} |" for what, key in CRASH_ROWS),
        "",
        "## Plots",
        "",
        "![P1](p1_page_latency.png)",
        "![P2](p2_emergency_pages.png)",
        "![P3](p3_escalation_lateness.png)",
        "![P5](p5_inbound_latency.png)",
        "",
    ]
    if ours.problems or theirs.problems:
        lines += ["## Problems the crash harness reported", ""]
        lines += [f"- Haven: {p}" for p in ours.problems[:20]]
        lines += [f"- baseline: {p}" for p in theirs.problems[:10]]
        lines.append("")
    (out / "results.md").write_text("\n".join(lines))
    summary = {
        key: (value.values if isinstance(value, Figure) else value)
        for key, value in results.items()
        if not isinstance(value, CrashResult)
    }
    summary["crash"] = {k: v for k, v in vars(ours).items()}
    summary["crash_baseline"] = {k: v for k, v in vars(theirs).items()}
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=float))


CRASH_ROWS = (
    ("rounds (each ends in SIGKILL)", "rounds"),
    ("killed before ready", "killed_before_ready"),
    ("reports filed (quick reports and emergencies)", "reports"),
    ("other messages (/status)", "other_messages"),
    ("acknowledged to the reporter", "acknowledged"),
    ("**acknowledged reports lost**", "lost"),
    ("report updates never processed", "unprocessed"),
    ("updates processed twice", "processed_twice"),
    ("duplicate receipts", "duplicate_receipts"),
    ("duplicate cards", "duplicate_cards"),
    ("duplicate pages", "duplicate_pages"),
    ("ambiguous timeouts injected", "ambiguous_faults"),
    (
        "emergency pages sent again after an ambiguous timeout or an interrupted send (allowed)",
        "explained_emergency_repeats",
    ),
    ("receipts never delivered (send interrupted: at most once)", "receipts_missing"),
    ("cases without a card (send interrupted: at most once)", "cards_missing"),
    ("storage checks ok after a kill", "integrity"),
    ("starts that never became ready", "start_failures"),
    ("seconds", "seconds"),
)


def _crash(result: CrashResult, key: str) -> str:
    if key == "integrity":
        return f"{result.integrity_checks - result.integrity_failures}/{result.integrity_checks}"
    value = getattr(result, key)
    return f"{value:.0f}" if isinstance(value, float) else str(value)
