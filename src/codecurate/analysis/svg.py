"""Small inline-SVG charts for the self-contained HTML report.

Why hand-written SVG and not a plotting library: the report must be one file that works offline. Plotly needs
its ~3.6 MB JavaScript bundle inlined in every report; matplotlib's SVG output writes every glyph as a path
(tens of KB per figure) and costs ~0.1-0.3 s per figure. These charts are a few KB each, render without any
script, scale with the page (``viewBox``), and keep text as text (searchable, copyable).

Every string that reaches the SVG goes through ``esc`` (``html.escape``): labels come from data (category
names, drop reasons, dataset names) and are never read as markup.

Charts: ``bar_chart`` (grouped horizontal bars), ``stacked_bars`` (100 % stacked rows), ``histogram``
(overlaid step outlines on shared bin edges), ``scatter`` (2-D points by group), ``line_points``.
Each returns an ``<svg class="plot">`` string; an empty input gives a plot with a "no data" note.
"""

from __future__ import annotations

import html
import math
from typing import Sequence

# Tableau 10: distinct on screen and in print, readable by most colour-blind readers
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac")


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def fmt(v: float) -> str:
    """A short number for axis ticks and labels: 0.123, 12.3, 1,234, 1.2e+06."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e6:
        return f"{v:.2g}"
    if a >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:.3g}"
    return f"{v:.3f}".rstrip("0").rstrip(".") if a >= 0.001 else f"{v:.1e}"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: max(1, n - 1)] + "\u2026"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg class="plot" viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">'
            f'<title>{esc(title)}</title>' + "".join(body) + "</svg>")


def _legend(names: Sequence[str], x: float, y: float, width: float) -> tuple[list[str], float]:
    """Legend entries laid out left to right, wrapping at ``width``; returns the SVG parts and its height."""
    parts, cx, cy = [], x, y
    for i, n in enumerate(names):
        w = 18 + 6.5 * min(len(str(n)), 40)
        if cx + w > x + width and cx > x:
            cx, cy = x, cy + 16
        parts.append(f'<rect class="mark" x="{cx:.1f}" y="{cy - 9:.1f}" width="10" height="10" fill="{color(i)}"/>'
                     f'<text x="{cx + 14:.1f}" y="{cy:.1f}" font-size="11">{esc(str(n)[:40])}</text>')
        cx += w + 8
    return parts, (cy - y) + 16


def _empty(title: str, width: int = 560, height: int = 80, note: str = "no data") -> str:
    return _svg(width, height, [f'<rect class="mark frame" x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" '
                                f'fill="#fafafa" stroke="#ddd"/>',
                                f'<text x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle" font-size="13" '
                                f'fill="#777">{esc(note)}</text>'], title)


def bar_chart(categories: Sequence[str], series: dict[str, Sequence[float]], *, title: str, percent: bool = False,
              width: int = 560, label_width: int = 190, value_fmt=None) -> str:
    """Grouped horizontal bars: one row per category, one bar per series (dataset) in it."""
    cats = list(categories)
    names = list(series)
    if not cats or not names:
        return _empty(title)
    vals = [[float(v or 0) for v in series[n]] for n in names]
    vmax = max([max(v) for v in vals if v] + [1e-12])
    bar_h = 12 if len(names) > 1 else 16
    row_h = bar_h * len(names) + 8
    leg, leg_h = _legend(names, label_width, 14, width - label_width - 10) if len(names) > 1 else ([], 0)
    top = 10 + leg_h
    plot_w = width - label_width - 70
    height = int(top + row_h * len(cats) + 10)
    fmt_v = value_fmt or ((lambda v: f"{100 * v:.1f}%") if percent else fmt)
    body = list(leg)
    for ci, cat in enumerate(cats):
        y0 = top + ci * row_h
        body.append(f'<text x="{label_width - 6}" y="{y0 + row_h / 2 + 3:.1f}" text-anchor="end" font-size="11">'
                    f'{esc(_clip(str(cat), int(label_width / 6.2)))}</text>')
        for si, n in enumerate(names):
            v = vals[si][ci] if ci < len(vals[si]) else 0.0
            w = max(0.0, plot_w * v / vmax)
            y = y0 + 4 + si * bar_h
            body.append(f'<rect class="mark" x="{label_width}" y="{y:.1f}" width="{max(w, 0.5):.1f}" '
                        f'height="{bar_h - 2}" fill="{color(si)}"><title>{esc(n)}: {esc(cat)} = {esc(fmt_v(v))}'
                        f'</title></rect>')
            body.append(f'<text x="{label_width + w + 4:.1f}" y="{y + bar_h - 4:.1f}" font-size="10" fill="#333">'
                        f'{esc(fmt_v(v))}</text>')
    body.append(f'<line x1="{label_width}" y1="{top}" x2="{label_width}" y2="{height - 8}" stroke="#999"/>')
    return _svg(width, height, body, title)


def stacked_bars(parts: Sequence[str], rows: dict[str, dict[str, float]], *, title: str, width: int = 560,
                 label_width: int = 150) -> str:
    """One 100 %-stacked horizontal bar per row (dataset); ``rows[name][part]`` are fractions or counts."""
    names = list(rows)
    if not names or not parts:
        return _empty(title)
    leg, leg_h = _legend(list(parts), label_width, 14, width - label_width - 10)
    top = 10 + leg_h
    bar_h, gap = 22, 10
    plot_w = width - label_width - 20
    height = int(top + (bar_h + gap) * len(names) + 6)
    body = list(leg)
    for ri, n in enumerate(names):
        vals = [max(0.0, float(rows[n].get(p, 0) or 0)) for p in parts]
        tot = sum(vals) or 1.0
        y = top + ri * (bar_h + gap)
        body.append(f'<text x="{label_width - 6}" y="{y + bar_h / 2 + 4:.1f}" text-anchor="end" font-size="11">'
                    f'{esc(str(n)[:28])}</text>')
        x = float(label_width)
        for pi, p in enumerate(parts):
            w = plot_w * vals[pi] / tot
            if w <= 0:
                continue
            body.append(f'<rect class="mark" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color(pi)}">'
                        f'<title>{esc(n)}: {esc(p)} = {100 * vals[pi] / tot:.1f}%</title></rect>')
            if w > 34:
                body.append(f'<text x="{x + w / 2:.1f}" y="{y + bar_h / 2 + 4:.1f}" text-anchor="middle" '
                            f'font-size="10" fill="#fff">{100 * vals[pi] / tot:.0f}%</text>')
            x += w
    return _svg(width, height, body, title)


def histogram(edges: Sequence[float], series: dict[str, Sequence[float]], *, title: str, xlabel: str = "",
              density: bool = True, width: int = 560, height: int = 230, log_x: bool = False) -> str:
    """Overlaid histograms on shared ``edges``: each series a filled step outline (fraction of its records per
    bin when ``density``), so datasets of different sizes compare."""
    names = [n for n in series if sum(series[n]) > 0]
    if len(edges) < 2 or not names:
        return _empty(title)
    mt: float  # grows by the legend height
    ml, mr, mt, mb = 46, 12, 10, 34
    leg, leg_h = _legend(names, ml, mt + 4, width - ml - mr) if len(names) > 1 else ([], 0)
    mt += leg_h
    pw, ph = width - ml - mr, height - mt - mb
    ys = {}
    for n in names:
        c = [float(v) for v in series[n]]
        tot = sum(c) or 1.0
        ys[n] = [v / tot for v in c] if density else c
    ymax = max(max(v) for v in ys.values()) or 1.0
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0

    def X(v: float) -> float:
        return ml + pw * (float(v) - lo) / span

    def Y(v: float) -> float:
        return mt + ph - ph * v / ymax

    body = list(leg)
    body.append(f'<line x1="{ml}" y1="{mt + ph}" x2="{ml + pw}" y2="{mt + ph}" stroke="#999"/>')
    body.append(f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{mt + ph}" stroke="#999"/>')
    for t in range(5):
        xv = lo + span * t / 4
        body.append(f'<text x="{X(xv):.1f}" y="{mt + ph + 14}" text-anchor="middle" font-size="10">{esc(fmt(xv))}</text>')
    for t in range(3):
        yv = ymax * t / 2
        body.append(f'<text x="{ml - 4}" y="{Y(yv) + 3:.1f}" text-anchor="end" font-size="10">'
                    f'{esc(f"{100 * yv:.0f}%" if density else fmt(yv))}</text>')
    if xlabel:
        body.append(f'<text x="{ml + pw / 2}" y="{height - 4}" text-anchor="middle" font-size="11">{esc(xlabel)}</text>')
    for si, n in enumerate(names):
        pts = [f"{X(edges[0]):.1f},{Y(0):.1f}"]
        for i, v in enumerate(ys[n]):
            pts.append(f"{X(edges[i]):.1f},{Y(v):.1f}")
            pts.append(f"{X(edges[i + 1]):.1f},{Y(v):.1f}")
        pts.append(f"{X(edges[-1]):.1f},{Y(0):.1f}")
        col = color(si)
        body.append(f'<path class="mark" d="M{" L".join(pts)} Z" fill="{col}" fill-opacity="{0.35 if len(names) > 1 else 0.6}" '
                    f'stroke="{col}" stroke-width="1.5"><title>{esc(n)}</title></path>')
    return _svg(width, height, body, title)


def scatter(groups: dict[str, Sequence[Sequence[float]]], *, title: str, width: int = 560, height: int = 360,
            radius: float = 2.2) -> str:
    """2-D points, one colour per group (already projected; axes carry no units)."""
    names = [n for n in groups if len(groups[n])]
    if not names:
        return _empty(title)
    xs = [p[0] for n in names for p in groups[n]]
    ys = [p[1] for n in names for p in groups[n]]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx, sy = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    m = 10
    leg, leg_h = _legend(names, m, 14, width - 2 * m)
    top = 10 + leg_h
    pw, ph = width - 2 * m, height - top - m
    body = list(leg)
    body.append(f'<rect class="frame" x="{m}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#ddd"/>')
    for gi, n in enumerate(names):
        c = color(gi)
        pts = "".join(f'<circle cx="{m + pw * (p[0] - x0) / sx:.1f}" cy="{top + ph - ph * (p[1] - y0) / sy:.1f}" '
                      f'r="{radius}"/>' for p in groups[n])
        body.append(f'<g class="mark" fill="{c}" fill-opacity="0.6"><title>{esc(n)}</title>{pts}</g>')
    return _svg(width, height, body, title)


def line_points(labels: Sequence[str], series: dict[str, Sequence[float]], *, title: str, width: int = 560,
                height: int = 240, ylabel: str = "") -> str:
    """Values at ordered positions (e.g. records per stage), one polyline with markers per series."""
    names = [n for n in series if len(series[n])]
    if not labels or not names:
        return _empty(title)
    mt: float  # grows by the legend height
    ml, mr, mt, mb = 54, 16, 10, 70
    leg, leg_h = _legend(names, ml, mt + 4, width - ml - mr) if len(names) > 1 else ([], 0)
    mt += leg_h
    pw, ph = width - ml - mr, height - mt - mb
    ymax = max(max(float(v) for v in series[n]) for n in names) or 1.0
    k = len(labels)

    def X(i: int) -> float:
        return ml + (pw * i / (k - 1) if k > 1 else pw / 2)

    def Y(v: float) -> float:
        return mt + ph - ph * float(v) / ymax

    body = list(leg)
    body.append(f'<line x1="{ml}" y1="{mt + ph}" x2="{ml + pw}" y2="{mt + ph}" stroke="#999"/>')
    for t in range(3):
        yv = ymax * t / 2
        body.append(f'<text x="{ml - 4}" y="{Y(yv) + 3:.1f}" text-anchor="end" font-size="10">{esc(fmt(yv))}</text>')
    for i, lab in enumerate(labels):
        body.append(f'<text transform="translate({X(i):.1f},{mt + ph + 10}) rotate(35)" font-size="10">'
                    f'{esc(str(lab)[:24])}</text>')
    if ylabel:
        body.append(f'<text transform="translate(12,{mt + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">'
                    f'{esc(ylabel)}</text>')
    for si, n in enumerate(names):
        vals = list(series[n])
        c = color(si)
        pts = " ".join(f"{X(i):.1f},{Y(v):.1f}" for i, v in enumerate(vals))
        body.append(f'<polyline class="mark" points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        for i, v in enumerate(vals):
            body.append(f'<circle class="mark" cx="{X(i):.1f}" cy="{Y(v):.1f}" r="3.5" fill="{c}">'
                        f'<title>{esc(n)} {esc(labels[i])}: {esc(fmt(float(v)))}</title></circle>')
    return _svg(width, height, body, title)
