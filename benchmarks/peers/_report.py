"""The Markdown report: one table of figures, one of ratios against recordkit and the floors, and notes.

Figures from a scaled-down workload are extrapolated linearly to the full 3M records and marked so (``*``);
a peak RSS is never extrapolated: it is the one measured at that subject's own scale (``†`` when smaller).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from benchmarks._util import fmt_number, fmt_ratio
from benchmarks.peers._runner import Row
from benchmarks.peers._subjects import BY_KEY

MIB = 1024 * 1024


def scale_label(scale: float) -> str:
    if scale >= 1:
        return "full"
    fraction = Fraction(scale).limit_denominator(100_000)
    return f"1/{round(1 / fraction)}" if fraction.numerator == 1 else f"{float(scale):.3g}"


def _us(value: float) -> str:
    return f"{fmt_number(value)} µs"


def _seconds(value: float) -> str:
    return f"{fmt_number(value)} s"


def _rss(work: dict[str, Any]) -> str:
    """The child's own peak; its session's (helper processes included) when that is clearly more."""
    own, session = work["peak_rss"], work.get("tree_peak_rss", 0)
    text = f"{own / MIB:,.0f} MiB"
    if session > own + 20 * MIB:
        text += f" ({session / MIB:,.0f} MiB with its helper processes)"
    return text


def _total_rss(work: dict[str, Any]) -> int:
    """Peak RSS with helper processes, the fair figure for a tracker that logs through a service."""
    return max(work["peak_rss"], work.get("tree_peak_rss", 0))


def _per_record_s(row: Row) -> float | None:
    return row.work["durable_s"] / row.work["records"] if row.work else None


def _per_record_disk(row: Row) -> float | None:
    return row.work["disk"] / row.work["records"] if row.work else None


def figures_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| subject | version | `log` 10 floats, median | p99 | SIGKILL right after the last log: steps kept "
        "| workload: records logged | time to durable | peak RSS | disk | query: mean y per experiment | query time |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.failed:
            lines.append(f"| {row.name} | {row.version or '–'} | {row.failed} |" + " – |" * 8)
            continue
        cells = [row.name, row.version or "–"]
        cells += [_us(row.hot["median_us"]), _us(row.hot["p99_us"])] if row.hot else ["failed", "failed"]
        if row.kill:
            kept = f"{row.kill['kept']:,} of {row.kill['n']:,}"
            if row.kill.get("partial"):
                kept += f" (+{row.kill['partial']} partial)"
            cells.append(kept)
        else:
            cells.append("failed")
        work = row.work
        if work:
            scale = work["scale"]
            scaled = scale < 1
            cells.append(f"{work['records']:,}" + (f" ({scale_label(scale)})" if scaled else ""))
            if scaled:
                cells.append(f"{_seconds(work['durable_s'])} → {_seconds(work['durable_s'] / scale)}*")
                cells.append(_rss(work) + "†")
                cells.append(f"{work['disk'] / 1e6:,.2f} MB → {work['disk'] / scale / 1e6:,.0f} MB*")
            else:
                cells.append(_seconds(work["durable_s"]))
                cells.append(_rss(work))
                cells.append(f"{work['disk'] / 1e6:,.0f} MB")
        else:
            cells += ["failed"] * 4
        query = row.query
        if query:
            cells.append(" / ".join(f"{v:.4f}" for v in query["answer"].values()) or "none")
            cells.append(
                _seconds(query["query_s"])
                + (f" (on {scale_label(work['scale'])})" if work and work["scale"] < 1 else "")
            )
        else:
            cells += ["failed"] * 2
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _ratio(value: float | None, base: float | None, mark: str = "") -> str:
    if value is None or base is None or base <= 0:
        return "–"
    return fmt_ratio(value / base) + mark


def ratio_table(rows: Sequence[Row]) -> list[str]:
    by_key = {row.key: row for row in rows}
    rk = by_key.get("recordkit")
    lines = [
        "| ratio | log median | log p99 | time to durable, per record | peak RSS | disk per record | query time |",
        "|---|---|---|---|---|---|---|",
    ]

    def line(label: str, a: Row, b: Row) -> str:
        a_scaled = bool(a.work and a.work["scale"] < 1) or bool(b.work and b.work["scale"] < 1)
        star = "*" if a_scaled else ""
        same_scale = bool(a.work and b.work and a.work["records"] == b.work["records"])
        cells = [
            _ratio(a.hot and a.hot["median_us"], b.hot and b.hot["median_us"]),
            _ratio(a.hot and a.hot["p99_us"], b.hot and b.hot["p99_us"]),
            _ratio(_per_record_s(a), _per_record_s(b), star),
            _ratio(
                a.work and _total_rss(a.work),
                b.work and _total_rss(b.work),
                "" if same_scale or not a.work else f"† (at {scale_label(a.work['scale'])})",
            ),
            _ratio(_per_record_disk(a), _per_record_disk(b), star),
            _ratio(
                a.query and a.work and a.query["query_s"] / a.work["scale"],
                b.query and b.work and b.query["query_s"] / b.work["scale"],
                star,
            ),
        ]
        return f"| {label} | " + " | ".join(cells) + " |"

    if rk is not None:
        for row in rows:
            if row.kind == "peer" and not row.failed:
                lines.append(line(f"{row.name} ÷ recordkit", row, rk))
        for key in ("sqlite-floor", "file-floor"):
            if key in by_key and not by_key[key].failed:
                lines.append(line(f"recordkit ÷ {by_key[key].name}", rk, by_key[key]))
    return lines


def notes(rows: Sequence[Row]) -> list[str]:
    full = rows[0].full_records if rows else 0
    out = [
        f"`*` extrapolated linearly from the scaled-down workload to {full:,} records; `†` a peak RSS measured "
        "on that subject's smaller workload (not extrapolated; its ratio compares a smaller workload with "
        "recordkit's full one). RSS ratios use the peak with helper processes where there are any. "
        "Query times on a scaled-down workload are "
        "over that smaller data set (the ratio extrapolates them linearly, marked `*`).",
        "",
        "How each subject is used:",
        "",
    ]
    for row in rows:
        subject = BY_KEY.get(row.key)
        if subject is not None and subject.how:
            out.append(f"- **{row.name}**: {subject.how}.")
    problems = [(row, error) for row in rows for error in row.errors.values()]
    problems += [(row, note) for row in rows for note in row.notes]
    if problems:
        out += ["", "Problems and remarks:", ""]
        out += [f"- **{row.name}**: {text}" for row, text in problems]
    return out


def render(rows: Sequence[Row], header: Sequence[str]) -> str:
    parts = [*header, "", *figures_table(rows), "", *ratio_table(rows), "", *notes(rows)]
    return "\n".join(parts) + "\n"
