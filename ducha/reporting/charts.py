"""Small inline SVG charts for the briefing: no JavaScript, no files, open offline."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from ducha.vocabulary import STATUS_ZH, Status

STATUSES = tuple(s.name for s in Status)  # best first, as the charts stack them
COLORS = {
    "done": "#1b5e20",
    "on_track": "#66bb6a",
    "lagging": "#f9a825",
    "critical": "#c62828",
    "missing": "#9e9e9e",
}
FONT = "font-family=\"'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif\""


def _text(
    x: float, y: float, text: str, size: int = 12, anchor: str = "start", fill: str = "#222"
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" {FONT}>'
        f"{escape(text)}</text>"
    )


def legend(x: float, y: float, statuses: Sequence[str] = STATUSES) -> str:
    parts = []
    for i, status in enumerate(statuses):
        cx = x + i * 92
        parts.append(
            f'<rect x="{cx:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{COLORS[status]}"/>'
        )
        parts.append(_text(cx + 16, y, STATUS_ZH[status], 12))
    return "".join(parts)


def stacked_bars(
    title: str, rows: Sequence[tuple[str, dict[str, int]]], label_width: int = 170
) -> Markup:
    """Horizontal stacked bars: one row per group, segments by status (counts of tasks)."""
    width, bar_h, gap = 760, 18, 8
    top = 48
    height = top + len(rows) * (bar_h + gap) + 16
    most = max((sum(c.values()) for _, c in rows), default=1) or 1
    scale = (width - label_width - 60) / most
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" class="chart">',
        _text(0, 18, title, 15, fill="#000"),
        legend(label_width, 38),
    ]
    for i, (name, counts) in enumerate(rows):
        y = top + i * (bar_h + gap)
        parts.append(_text(label_width - 8, y + 13, name, 12, "end"))
        x = float(label_width)
        for status in STATUSES:
            n = counts.get(status, 0)
            if not n:
                continue
            w = n * scale
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{COLORS[status]}">'
                f"<title>{escape(name)} {STATUS_ZH[status]} {n} 项</title></rect>"
            )
            if w >= 16:
                parts.append(_text(x + w / 2, y + 13, str(n), 11, "middle", "#fff"))
            x += w
        parts.append(_text(x + 6, y + 13, str(sum(counts.values())), 11))
    parts.append("</svg>")
    return Markup("".join(parts))


def trend(title: str, months: Sequence[tuple[str, dict[str, int]]]) -> Markup:
    """Stacked columns per evaluated month: tasks by status over the year."""
    width, height, left, bottom, top = 760, 260, 40, 30, 48
    slots = 12
    most = max((sum(c.values()) for _, c in months), default=1) or 1
    plot_h = height - top - bottom
    col_w = (width - left - 20) / slots
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" class="chart">',
        _text(0, 18, title, 15, fill="#000"),
        legend(left, 38),
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>',
    ]
    by_month = dict(months)
    for m in range(1, slots + 1):
        x = left + (m - 1) * col_w + 6
        parts.append(_text(x + (col_w - 12) / 2, height - bottom + 16, f"{m}月", 11, "middle"))
        counts = next((c for p, c in by_month.items() if int(p[-2:]) == m), None)
        if not counts:
            continue
        y = float(height - bottom)
        for status in STATUSES:
            n = counts.get(status, 0)
            if not n:
                continue
            h = n / most * plot_h
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{col_w - 12:.1f}" height="{h:.1f}" fill="{COLORS[status]}">'
                f"<title>{m}月 {STATUS_ZH[status]} {n} 项</title></rect>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def ranking(title: str, rows: Sequence[tuple[int | None, str, float | None, str]]) -> Markup:
    """Units by rank: (rank, None for a unit not ranked, unit, on-track share 0..1 or None
    when unknown, submission)."""
    width, bar_h, gap, label_width, top = 760, 16, 6, 170, 30
    height = top + len(rows) * (bar_h + gap) + 10
    scale = width - label_width - 150
    sub_zh = {"on_time": "按时报送", "late": "逾期报送", "missing": "未报送"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" class="chart">',
        _text(0, 18, title, 15, fill="#000"),
    ]
    for i, (rank, unit, known, submission) in enumerate(rows):
        y = top + i * (bar_h + gap)
        share = known or 0.0
        shown = "—" if known is None else f"{share:.0%}"
        color = (
            COLORS["on_track"]
            if share >= 0.8
            else COLORS["lagging"]
            if share >= 0.5
            else COLORS["critical"]
        )
        if submission == "missing":
            color = COLORS["missing"]
        place = "不排名" if rank is None else f"第{rank}名"
        parts.append(_text(label_width - 8, y + 12, f"{unit}  {place}", 12, "end"))
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{max(share * scale, 1):.1f}" height="{bar_h}" fill="{color}">'
            f"<title>{escape(unit)} 序时推进比例 {shown}</title></rect>"
        )
        parts.append(
            _text(label_width + share * scale + 6, y + 12, f"{shown}  {sub_zh[submission]}", 11)
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def history(title: str, points: Sequence[tuple[int, float | None, float | None]]) -> Markup:
    """A metric over the year: the figure (solid) against the 序时 expectation (dashed), both as
    a share of the annual target, one point per evaluated month (month, actual %, expected %)."""
    width, height, left, bottom, top = 380, 170, 36, 24, 30
    plot_w, plot_h = width - left - 10, height - top - bottom
    most = max([100.0, *(v for _, a, e in points for v in (a, e) if v is not None)])

    def xy(month: int, value: float) -> str:
        return f"{left + (month - 0.5) / 12 * plot_w:.1f},{height - bottom - value / most * plot_h:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" class="chart">',
        _text(0, 16, title, 13, fill="#000"),
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>',
        _text(left - 4, height - bottom - 100 / most * plot_h + 4, "100%", 10, "end", "#666"),
        f'<line x1="{left}" y1="{height - bottom - 100 / most * plot_h:.1f}" x2="{width - 10}" '
        f'y2="{height - bottom - 100 / most * plot_h:.1f}" stroke="#ddd"/>',
    ]
    for m in (1, 3, 6, 9, 12):
        parts.append(
            _text(left + (m - 0.5) / 12 * plot_w, height - bottom + 14, f"{m}月", 10, "middle")
        )
    for index, (color, dash, name) in enumerate(
        (("#8b0000", "", "完成"), ("#555", ' stroke-dasharray="4 3"', "序时"))
    ):
        line = [(m, v[index]) for m, *v in points if v[index] is not None]
        if line:
            coords = " ".join(xy(m, v) for m, v in line)
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'
            )
            parts += [
                f'<circle cx="{xy(m, v).split(",")[0]}" cy="{xy(m, v).split(",")[1]}" r="3" fill="{color}">'
                f"<title>{m}月 {name} {v:.1f}%</title></circle>"
                for m, v in line
            ]
        parts.append(f'<line x1="{width - 120 + index * 56}" y1="12" x2="{width - 104 + index * 56}" y2="12" '
                     f'stroke="{color}" stroke-width="2"{dash}/>')  # fmt: skip
        parts.append(_text(width - 100 + index * 56, 16, name, 11))
    parts.append("</svg>")
    return Markup("".join(parts))
