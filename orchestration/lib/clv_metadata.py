"""What the CLV fit shows in Dagster: its parameters and log-likelihood (numbers Dagster plots across runs), and
the backtest as a picture: predicted vs actual repeat purchases per customer in each calibration-frequency bucket
(marts.clv_backtest), drawn as an SVG by hand (no plotting library) and embedded in Markdown as a data URI, with
the same figures as a table below it (the table also reads where images are not shown).

Attached to intermediate.int_clv__fits (the fit) and marts.clv_model_runs (its history) and, for the plot and the
errors, marts.clv_backtest; read through the same read-only connection as the marts' row counts, after dbt is done.
"""

from __future__ import annotations

import base64
from html import escape

import dagster as dg

PARAMETERS = ("r", "alpha", "a", "b", "p", "q", "gamma")
FIT_ASSETS = {("intermediate", "int_clv__fits"), ("marts", "clv_model_runs")}
BACKTEST_ASSETS = {("marts", "clv_backtest")}
CLV_ASSETS = FIT_ASSETS | BACKTEST_ASSETS
PREDICTED, ACTUAL = "#4f6bed", "#f28e2b"


def _query(con, sql: str) -> list[tuple] | None:
    import duckdb

    try:
        return con.execute(sql).fetchall()
    except duckdb.CatalogException:  # not built (yet): nothing to show
        return None


def backtest_rows(con) -> list[tuple] | None:
    """(bucket, customers, predicted per customer, actual per customer, predicted, actual) per bucket, in order."""
    return _query(
        con,
        "select frequency_bucket, customers, predicted_per_customer, actual_per_customer, predicted_purchases, "
        "actual_purchases from marts.clv_backtest where not is_total order by frequency_min",
    )


def backtest_svg(rows: list[tuple], holdout_days: int | None = None) -> str:
    """A grouped bar chart: per bucket, mean predicted and actual holdout purchases per customer."""
    width, height, left, right, top, bottom = 640, 300, 56, 16, 40, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, _, p, a, *_ in rows for v in (p, a) if v is not None]
    title = f"CLV backtest: repeat purchases per customer in the {str(holdout_days) + '-day ' if holdout_days else ''}holdout"
    parts, y = svg_frame(title, max(values + [0.0]), width, height, left, right, top, bottom)
    slot = plot_w / max(len(rows), 1)
    bar = min(28.0, slot * 0.36)
    for i, (bucket, customers, predicted, actual, *_) in enumerate(rows):
        centre = left + slot * (i + 0.5)
        for offset, value, colour in ((-bar, predicted, PREDICTED), (0.0, actual, ACTUAL)):
            if value is None:
                continue
            parts.append(
                f'<rect class="bar" x="{centre + offset:.1f}" y="{y(value):.1f}" width="{bar:.1f}" height="{y(0) - y(value):.1f}" '
                f'fill="{colour}"><title>{value:.3f}</title></rect>'
            )
        parts.append(f'<text x="{centre:.1f}" y="{top + plot_h + 15}" text-anchor="middle">{escape(str(bucket))}</text>')
        parts.append(f'<text x="{centre:.1f}" y="{top + plot_h + 28}" text-anchor="middle" fill="#777">n={customers}</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#333"/>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">repeat purchases in the calibration period (frequency bucket)</text>')
    legend_x = width - right - 230
    for j, (label, colour) in enumerate((("predicted (BG/NBD)", PREDICTED), ("actual", ACTUAL))):
        x = legend_x + j * 130
        parts.append(f'<rect x="{x}" y="24" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="33">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_frame(title: str, peak: float, width: int, height: int, left: int, right: int, top: int, bottom: int):
    """The start of a hand-drawn SVG chart: the svg element, a white background, the title, and horizontal grid lines
    with their labels at round steps up to ``peak``. Returns the parts so far and ``y(value)``, the plot's y of a value
    (0 at the bottom of the plot area)."""
    plot_h = height - top - bottom
    peak = peak or 1.0
    step = _nice_step(peak)
    top_value = step * max(1, -(-peak // step))
    y = lambda v: top + plot_h - (v / top_value) * plot_h  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    t = 0.0
    while t <= top_value + 1e-9:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
        t += step
    return parts, y


def _nice_step(peak: float) -> float:
    """A round tick step giving 4-8 ticks up to ``peak``."""
    import math

    magnitude = 10 ** math.floor(math.log10(peak / 5)) if peak > 0 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if peak / (factor * magnitude) <= 6:
            return factor * magnitude
    return 10 * magnitude


def _bar(value: float | None, peak: float, width: int = 20) -> str:
    if value is None or peak <= 0:
        return ""
    eighths = round(value / peak * width * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def backtest_markdown(rows: list[tuple], total: tuple | None, holdout_days: int | None) -> str:
    """The plot (an SVG data URI) and a table of the same figures with bars."""
    svg = base64.b64encode(backtest_svg(rows, holdout_days).encode()).decode()
    peak = max([v for _, _, p, a, *_ in rows for v in (p, a) if v is not None] + [0.0])
    lines = [
        f"![CLV backtest: predicted vs actual repeat purchases per customer](data:image/svg+xml;base64,{svg})",
        "",
        "| frequency | customers | predicted / customer | actual / customer | predicted | actual |",
        "|---|---:|---|---|---:|---:|",
    ]
    for bucket, customers, pc, ac, predicted, actual in rows:
        lines.append(
            f"| {bucket} | {customers:,} | {_fmt(pc)} {_code(_bar(pc, peak))} | {_fmt(ac)} {_code(_bar(ac, peak))} | "
            f"{_fmt(predicted, 1)} | {actual:,} |"
        )
    if total is not None:
        customers, predicted, actual, error, mae = total
        lines += [
            "",
            f"All {customers:,} customers: predicted {_fmt(predicted, 1)}, actual {actual:,} repeat purchases "
            f"(total error {_fmt(error, 1)}); mean absolute error per customer {_fmt(mae)}.",
        ]
    return "\n".join(lines)


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def clv_metadata(con, key_path: tuple[str, ...]) -> dict[str, dg.MetadataValue]:
    """The CLV metadata of asset ``key_path`` (empty for other assets, or when the tables are not there)."""
    key_path = tuple(key_path)
    out: dict[str, dg.MetadataValue] = {}
    if key_path in FIT_ASSETS:
        fits = _query(
            con,
            f"select purpose, {', '.join(PARAMETERS)}, log_likelihood, gg_log_likelihood, customers, repeat_customers, "
            "converged, calibration_end, time_unit, failure from intermediate.int_clv__fits order by purpose desc",
        )
        if fits:
            production = next((f for f in fits if f[0] == "production"), None)
            if production is not None and production[1] is not None:
                out |= {f"clv/{name}": dg.MetadataValue.float(float(v)) for name, v in zip(PARAMETERS, production[1:8])}
                out["clv/log_likelihood"] = dg.MetadataValue.float(float(production[8]))
                out["clv/gg_log_likelihood"] = dg.MetadataValue.float(float(production[9]))
                out["clv/customers"] = dg.MetadataValue.int(int(production[10]))
                out["clv/converged"] = dg.MetadataValue.bool(bool(production[12]))
            out["clv/fits"] = dg.MetadataValue.md(_fits_markdown(fits))
    if key_path in CLV_ASSETS:
        rows = backtest_rows(con)
        total = _query(
            con,
            "select customers, predicted_purchases, actual_purchases, error, mean_absolute_error, holdout_days "
            "from marts.clv_backtest where is_total",
        )
        if rows is not None:
            holdout = total[0][5] if total else None
            out["clv/backtest_plot"] = dg.MetadataValue.md(backtest_markdown(rows, total[0][:5] if total else None, holdout))
        if total and total[0][3] is not None:
            out["clv/backtest_total_error"] = dg.MetadataValue.float(float(total[0][3]))
            out["clv/backtest_mae_per_customer"] = dg.MetadataValue.float(float(total[0][4]))
    return out


def _fits_markdown(fits: list[tuple]) -> str:
    header = "| fit | calibration end | " + " | ".join(PARAMETERS) + " | log-likelihood (BG/NBD) | customers | repeat | converged |"
    lines = [header, "|---|---|" + "---:|" * (len(PARAMETERS) + 3) + "---|"]
    for purpose, *params, ll, _gg, customers, repeat, converged, end, unit, failure in fits:
        if params[0] is None:
            lines.append(f"| {purpose} | {end:%Y-%m-%d} | " + " | ".join("–" for _ in PARAMETERS) + f" | – | {customers or 0} | {repeat or 0} | no: {escape(failure or '').replace('|', '/')} |")
            continue
        cells = " | ".join(f"{v:.4g}" for v in params)
        lines.append(f"| {purpose} | {end:%Y-%m-%d} | {cells} | {ll:,.1f} | {customers:,} | {repeat:,} | {'yes' if converged else 'no'} |")
    lines.append(f"\nTime unit: {fits[0][-2]}. BG/NBD: r, alpha (purchase rate), a, b (dropout); Gamma-Gamma: p, q, gamma (spend).")
    return "\n".join(lines)
