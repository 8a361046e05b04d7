"""Plots of key marts for their Dagster materializations: sessions per UTC day (marts.journey_sessions) and the
distribution of 12-month CLV (marts.customer_clv).

The Dagster UI renders Markdown metadata, including images given as data URIs (a ``MetadataValue.path`` to a PNG
is only a path): each plot is an SVG bar chart drawn by hand (no plotting library) embedded as a data URI, with
the same figures as a Markdown table of unicode bars below it (readable where images are not shown). Aggregates
only: no person reaches the event log.
"""

from __future__ import annotations

import base64
from html import escape

import dagster as dg

from orchestration.lib.clv_metadata import _bar, _code, _nice_step, svg_frame

BAR = "#4f6bed"
CLV_BINS = 12
MAX_TABLE_ROWS = 40  # days shown in the table under the plot (the newest); the plot shows them all


def bar_chart_svg(title: str, labels: list[str], values: list[float], x_title: str, y_title: str) -> str:
    """A vertical bar chart; at most ~12 x labels are written (evenly spaced), every bar has a tooltip."""
    width, height, left, right, top, bottom = 640, 300, 56, 16, 32, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    parts, y = svg_frame(title, max(values + [0.0]), width, height, left, right, top, bottom)
    slot = plot_w / max(len(values), 1)
    every = max(1, -(-len(labels) // 12))
    for i, (label, value) in enumerate(zip(labels, values)):
        x = left + slot * i
        parts.append(
            f'<rect class="bar" x="{x + slot * 0.1:.1f}" y="{y(value):.1f}" width="{slot * 0.8:.1f}" '
            f'height="{y(0) - y(value):.1f}" fill="{BAR}"><title>{escape(label)}: {value:g}</title></rect>'
        )
        if i % every == 0:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#333"/>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle">{escape(x_title)}</text>')
    parts.append(
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" transform="rotate(-90 14 {top + plot_h / 2:.1f})">'
        f"{escape(y_title)}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def chart_markdown(title: str, labels: list[str], values: list[float], x_title: str, y_title: str, note: str = "") -> str:
    """The chart as an image (SVG data URI), then a table of the same figures with unicode bars."""
    svg = base64.b64encode(bar_chart_svg(title, labels, values, x_title, y_title).encode()).decode()
    peak = max(values + [0.0])
    lines = [f"![{title}](data:image/svg+xml;base64,{svg})", ""]
    if note:
        lines += [note, ""]
    shown = list(zip(labels, values))[-MAX_TABLE_ROWS:]
    lines += [f"| {x_title} | {y_title} | |", "|---|---:|---|"]
    lines += [f"| {label} | {value:,.0f} | {_code(_bar(value, peak))} |" for label, value in shown]
    if len(shown) < len(labels):
        lines.append(f"\n(the last {len(shown)} of {len(labels)} shown in the table)")
    return "\n".join(lines)


def sessions_per_day(con) -> dict[str, dg.MetadataValue]:
    rows = con.execute(
        "select cast(timezone('UTC', session_start) as date) as day, count(*), count(*) filter (where converted) "
        "from marts.journey_sessions group by day order by day"
    ).fetchall()
    if not rows:
        return {}
    labels = [f"{day:%m-%d}" for day, *_ in rows]
    values = [float(n) for _, n, _ in rows]
    converted = sum(c for *_, c in rows)
    note = f"{sum(values):,.0f} sessions from {rows[0][0]} to {rows[-1][0]} (UTC days), {converted:,} converting."
    return {
        "plot/sessions_per_day": dg.MetadataValue.md(
            chart_markdown("Sessions per day (UTC)", labels, values, "day", "sessions", note)
        )
    }


def clv_histogram(con) -> dict[str, dg.MetadataValue]:
    """Customers per bin of clv_12m; bins of a round width up to the 99th percentile, the last bin open (the long
    tail of a few big spenders would otherwise squeeze everyone else into the first bin)."""
    low, cap, high, median, n = con.execute(
        "select min(clv_12m), quantile_cont(clv_12m, 0.99), max(clv_12m), median(clv_12m), count(clv_12m) "
        "from marts.customer_clv"
    ).fetchone()
    if not n:
        return {}
    low, cap, high = float(low), float(cap), float(high)
    width = _nice_step(max(cap - low, 1.0) / CLV_BINS * 5)
    start = width * (low // width)
    last = max(0, int((cap - start) // width))
    rows = con.execute(
        f"select least(floor((cast(clv_12m as double) - {start}) / {width}), {last}) as bin, count(*) "
        "from marts.customer_clv where clv_12m is not null group by bin order by bin"
    ).fetchall()
    counts = {int(b): c for b, c in rows}
    labels = [f"{start + b * width:,.0f}" + ("+" if b == last and high >= start + (last + 1) * width else "") for b in range(last + 1)]
    values = [float(counts.get(b, 0)) for b in range(last + 1)]
    note = (
        f"{n:,} customers; 12-month CLV from {low:,.2f} to {high:,.2f}, median {float(median):,.2f}; "
        f"bins of {width:,.0f} (lower bound shown; the last bin holds everything above)."
    )
    return {
        "plot/clv_12m_histogram": dg.MetadataValue.md(
            chart_markdown("Customers by 12-month CLV", labels, values, "clv_12m from", "customers", note)
        )
    }


PLOTS = {"journey_sessions": sessions_per_day, "customer_clv": clv_histogram}


def mart_plots(con, table: str) -> dict[str, dg.MetadataValue]:
    """The plot metadata of mart ``table`` (empty for marts without a plot)."""
    plot = PLOTS.get(table)
    return plot(con) if plot else {}
