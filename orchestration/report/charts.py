"""How the report draws: number formats, and charts as lists of primitive SVG shapes laid out here.

Hours are shown with one decimal, shares as percentages with one decimal, hours per point with one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# ------------------------------------------------------------------------------------------ formatting


def fmt_hours(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def fmt_share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def fmt_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def fmt_points(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def fmt_int(value: int | None) -> str:
    return "–" if value is None else f"{value:,d}"


def fmt_amount(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def fmt_date(value) -> str:
    if value is None:
        return "–"
    return value.strftime("%Y-%m-%d")


# ------------------------------------------------------------------------------------------ charts
# Charts are lists of primitive shapes with coordinates computed here; the template draws them, and
# autoescapes every string. Bars carry class "bar" (the tests count them).

FONT_WIDTH = 6.6  # average glyph width of the 12 px system font, for label layout


def _truncate(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """Round axis ticks from 0 to at least `maximum`."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(s * magnitude for s in (1, 2, 2.5, 5, 10) if s * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < maximum - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _tick_text(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


@dataclass
class Chart:
    chart_id: str
    title: str
    description: str
    width: float
    height: float
    shapes: list[dict] = field(default_factory=list)
    bars: int = 0

    def rect(self, x, y, w, h, cls, tooltip=None, bar=False):
        self.shapes.append(
            dict(
                kind="rect",
                x=round(x, 2),
                y=round(y, 2),
                w=round(max(w, 0), 2),
                h=round(h, 2),
                cls=cls + (" bar" if bar else ""),
                tooltip=tooltip,
            )
        )
        self.bars += bool(bar)

    def text(self, x, y, content, cls="", anchor="start", tooltip=None):
        self.shapes.append(
            dict(kind="text", x=round(x, 2), y=round(y, 2), content=content, cls=cls, anchor=anchor, tooltip=tooltip)
        )

    def line(self, x1, y1, x2, y2, cls):
        self.shapes.append(
            dict(kind="line", x1=round(x1, 2), y1=round(y1, 2), x2=round(x2, 2), y2=round(y2, 2), cls=cls)
        )


@dataclass
class BarRow:
    label: str
    value: float | None
    value_text: str
    tooltip: str
    group: str | None = None


def hbar_chart(
    chart_id: str,
    title: str,
    description: str,
    rows: list[BarRow],
    *,
    percent: bool = False,
    reference: tuple[float, str] | None = None,
    track: bool = False,
    width: float = 560,
    bar_class: str = "series-a",
) -> Chart:
    """Horizontal bars, one per row, optionally under group headings; value printed after each bar.

    percent: the axis runs 0..100 %; track: a light full-length track behind each bar (for shares);
    reference: a dashed vertical line at (value, label).
    """
    row_h, bar_h, group_h, top, axis_h = 22.0, 14.0, 24.0, 8.0, 22.0
    label_chars = min(max([len(r.label) for r in rows] + [4]), 30)
    label_w = label_chars * FONT_WIDTH + 14
    value_w = max([len(r.value_text) for r in rows] + [3]) * FONT_WIDTH + 14
    plot_x, plot_w = label_w, width - label_w - value_w
    values = [r.value for r in rows if r.value is not None]
    maximum = 1.0 if percent else max(values + ([reference[0]] if reference else []) + [0.0])
    ticks = nice_ticks(maximum) if not percent else [0, 0.25, 0.5, 0.75, 1.0]
    scale_max = ticks[-1] or 1.0

    groups = [r.group for r in rows]
    n_groups = len({g for g in groups if g is not None})
    height = top + len(rows) * row_h + n_groups * group_h + (reference is not None) * 16 + axis_h + 4
    chart = Chart(chart_id, title, description, width, height)
    body_top = top + (reference is not None) * 16
    body_bottom = height - axis_h

    for tick in ticks:
        x = plot_x + plot_w * tick / scale_max
        chart.line(x, body_top - 4, x, body_bottom, "grid")
        chart.text(x, body_bottom + 15, _tick_text(tick, percent), "axis", "middle")

    y = body_top
    current_group = object()
    for row in rows:
        if row.group is not None and row.group != current_group:
            chart.text(4, y + 17, _truncate(row.group, 60), "group")
            y += group_h
        current_group = row.group
        bar_y = y + (row_h - bar_h) / 2
        if track:
            chart.rect(plot_x, bar_y, plot_w, bar_h, "track")
        chart.text(label_w - 8, y + row_h / 2 + 4, _truncate(row.label, 30), "label", "end", tooltip=row.tooltip)
        bar_w = 0.0 if row.value is None else plot_w * min(row.value, scale_max) / scale_max
        chart.rect(plot_x, bar_y, max(bar_w, 1.0 if row.value else 0.0), bar_h, bar_class, row.tooltip, bar=True)
        value_x = (plot_x + plot_w + 6) if track else (plot_x + bar_w + 6)
        chart.text(value_x, y + row_h / 2 + 4, row.value_text, "value")
        y += row_h

    if reference is not None:
        x = plot_x + plot_w * min(reference[0], scale_max) / scale_max
        chart.line(x, body_top - 6, x, body_bottom, "reference")
        chart.text(x, top + 6, reference[1], "reference-label", "middle" if x < width - 90 else "end")
    chart.line(plot_x, body_top - 4, plot_x, body_bottom, "baseline")
    return chart


def cycle_charts(cycles: list[dict]) -> list[Chart]:
    """Small multiples: one column chart per team, bars per cycle, the same hours scale for every team."""
    teams: dict[str, list[dict]] = {}
    for row in cycles:
        teams.setdefault(row["team_key"] or "(no team)", []).append(row)
    maximum = max([r["hours"] for r in cycles] + [0.0])
    ticks = nice_ticks(maximum)
    scale_max = ticks[-1] or 1.0
    charts = []
    for index, (team, rows) in enumerate(teams.items()):
        name = rows[0].get("team_name")
        heading = f"{team} · {name}" if name and name != team else team
        width, height, left, top, bottom = 560.0, 200.0, 44.0, 22.0, 34.0
        plot_w, plot_h = width - left - 8, height - top - bottom
        chart = Chart(
            f"chart-cycles-{index}",
            f"Hours per cycle, team {heading}",
            f"Column chart: hours logged in each of the {len(rows)} cycles of team {heading}.",
            width,
            height,
        )
        for tick in ticks:
            y = top + plot_h - plot_h * tick / scale_max
            chart.line(left, y, width - 8, y, "grid")
            chart.text(left - 6, y + 4, _tick_text(tick, False), "axis", "end")
        slot = plot_w / max(len(rows), 1)
        bar_w = min(slot * 0.7, 48)
        for i, row in enumerate(rows):
            x = left + slot * i + (slot - bar_w) / 2
            h = plot_h * row["hours"] / scale_max
            label = f"C{row['cycle_number']}"
            tip = (
                f"{team} cycle {row['cycle_number']} ({fmt_date(row['cycle_starts_at'])} – "
                f"{fmt_date(row['cycle_ends_at'])}): {fmt_hours(row['hours'])} h, {row['issue_count']} issues"
            )
            chart.rect(x, top + plot_h - h, bar_w, h, "series-a", tip, bar=True)
            if row["hours"] > 0:
                chart.text(x + bar_w / 2, top + plot_h - h - 4, fmt_hours(row["hours"]), "value", "middle")
            chart.text(x + bar_w / 2, top + plot_h + 15, label, "axis", "middle", tooltip=tip)
        chart.line(left, top + plot_h, width - 8, top + plot_h, "baseline")
        chart.text(left, height - 4, "cycle", "axis-title")
        chart.heading = heading  # type: ignore[attr-defined]
        charts.append(chart)
    return charts


LINE_SERIES = 6  # distinct line colours (series-line-0 .. 5 in the template), then they repeat


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    x_labels: list[str],
    series: list[tuple[str, list[float | None]]],
    *,
    percent: bool = True,
    width: float = 640,
) -> Chart:
    """One line per series over the same x positions (e.g. weeks); a None value breaks the line there.
    Each point is a small square with its value as tooltip; a legend names the series below the plot."""
    top, left, right, axis_h, legend_row = 10.0, 44.0, 16.0, 22.0, 18.0
    plot_h = 180.0
    legend_h = legend_row * ((len(series) + 3) // 4)
    height = top + plot_h + axis_h + legend_h + 8
    chart = Chart(chart_id, title, description, width, height)
    plot_w = width - left - right
    values = [v for _, vs in series for v in vs if v is not None]
    ticks = [0, 0.25, 0.5, 0.75, 1.0] if percent else nice_ticks(max([*values, 0.0]))
    scale_max = ticks[-1] or 1.0
    bottom = top + plot_h

    def x_at(i: int) -> float:
        return left + (plot_w * i / (len(x_labels) - 1) if len(x_labels) > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return bottom - plot_h * min(v, scale_max) / scale_max

    for tick in ticks:
        chart.line(left, y_at(tick), left + plot_w, y_at(tick), "grid")
        chart.text(left - 6, y_at(tick) + 4, _tick_text(tick, percent), "axis", "end")
    step = max(1, (len(x_labels) + 5) // 6)  # at most about 6 labels on the axis
    for i, label in enumerate(x_labels):
        if i % step == 0 or i == len(x_labels) - 1:
            chart.text(x_at(i), bottom + 15, label, "axis", "middle")
    for n, (name, vs) in enumerate(series):
        cls = f"series-line-{n % LINE_SERIES}"
        for i in range(1, len(vs)):
            if vs[i - 1] is not None and vs[i] is not None:
                chart.line(x_at(i - 1), y_at(vs[i - 1]), x_at(i), y_at(vs[i]), cls)
        for i, v in enumerate(vs):
            if v is not None:
                text = _tick_text(v, False) if not percent else f"{v * 100:.1f}%"
                chart.rect(x_at(i) - 2.5, y_at(v) - 2.5, 5, 5, f"dot {cls}", f"{name}, {x_labels[i]}: {text}")
        lx = left + (n % 4) * (plot_w / 4)
        ly = bottom + axis_h + legend_row * (n // 4) + 10
        chart.line(lx, ly - 4, lx + 16, ly - 4, cls)
        chart.text(lx + 20, ly, _truncate(name, 24), "label")
    chart.line(left, top, left, bottom, "baseline")
    return chart
