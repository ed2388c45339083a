"""Server-side SVG charts: pure functions from numbers to markup, no JavaScript.

Every chart has a <title> (read by screen readers, shown as a tooltip) and uses classes the
stylesheet colours, so they stay readable in print and without CSS.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from markupsafe import Markup


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def uptime_class(u: float | None) -> str:
    if u is None:
        return "nodata"
    if u >= 0.999:
        return "good"
    if u >= 0.99:
        return "degraded"
    return "bad"


def pct(u: float | None) -> str:
    if u is None:
        return "no data"
    if u >= 1:
        return "100%"
    return f"{u * 100:.2f}%" if u >= 0.99 else f"{u * 100:.1f}%"


def meter(u: float | None, label: str, width: int = 64, height: int = 10) -> Markup:
    """A small horizontal bar filled to the uptime fraction."""
    fill = 0.0 if u is None else max(0.0, min(1.0, u)) * width
    return Markup(
        f'<svg class="meter" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"<title>{escape(label)}: {pct(u)}</title>"
        f'<rect class="track" width="{width}" height="{height}" rx="2"/>'
        f'<rect class="{uptime_class(u)}" width="{_f(fill)}" height="{height}" rx="2"/></svg>'
    )


def uptime_strip(segments: Sequence[tuple[str, float | None]], width: int = 600, height: int = 28,
                 gap: int = 1) -> Markup:
    """One bar per period (label, uptime), coloured good/degraded/bad/no data, oldest left."""
    n = max(1, len(segments))
    w = (width - gap * (n - 1)) / n
    parts = [f'<svg class="strip" width="100%" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
             f'role="img"><title>uptime, {n} periods</title>']
    for i, (label, u) in enumerate(segments):
        parts.append(f'<rect class="{uptime_class(u)}" x="{_f(i * (w + gap))}" width="{_f(w)}" '
                     f'height="{height}"><title>{escape(label)}: {pct(u)}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(series: dict[str, Sequence[tuple[datetime, float | None]]], *, title: str, unit: str = "ms",
               width: int = 720, height: int = 220, target: float | None = None,
               target_label: str = "target", markers: Sequence[tuple[datetime, str]] = ()) -> Markup:
    """Lines over time (one per named series, gaps where a value is None), an optional dashed
    horizontal target, y axis from 0 to the max with three ticks, x axis first/last time, and a
    vertical line per marker (a release: time, label) inside the time span."""
    pad_l, pad_r, pad_t, pad_b = 52, 12, 14, 26
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b
    points = [(t, v) for s in series.values() for t, v in s if v is not None]
    out = [f'<svg class="chart" width="100%" viewBox="0 0 {width} {height}" role="img">'
           f"<title>{escape(title)}</title>"]
    if not points:
        out.append(f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle" class="muted">no data yet</text>'
                   "</svg>")
        return Markup("".join(out))
    t0 = min(t for t, _ in points)
    t1 = max(t for t, _ in points)
    span = max((t1 - t0).total_seconds(), 1.0)
    ymax: float = max([v for _, v in points if v is not None] + ([target] if target is not None else []))
    ymax = ymax * 1.1 if ymax > 0 else 1.0

    def x(t: datetime) -> float:
        return pad_l + (t - t0).total_seconds() / span * pw

    def y(v: float) -> float:
        return pad_t + ph - v / ymax * ph

    for k in range(4):  # grid + y ticks
        gv = ymax * k / 3
        out.append(f'<line class="grid" x1="{pad_l}" x2="{width - pad_r}" y1="{_f(y(gv))}" y2="{_f(y(gv))}"/>'
                   f'<text class="tick" x="{pad_l - 4}" y="{_f(y(gv) + 4)}" text-anchor="end">{_f(gv)}{unit}</text>')
    for i, (name, s) in enumerate(series.items()):
        runs: list[list[str]] = [[]]
        for t, v in s:
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{_f(x(t))},{_f(y(v))}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                out.append(f'<circle class="s{i}" cx="{cx}" cy="{cy}" r="2"/>')
            elif run:
                out.append(f'<polyline class="line s{i}" points="{" ".join(run)}"><title>{escape(name)}</title>'
                           "</polyline>")
        out.append(f'<text class="legend s{i}" x="{pad_l + 8 + i * 110}" y="{pad_t + 10}">{escape(name)}</text>')
    if target is not None:
        out.append(f'<line class="target" x1="{pad_l}" x2="{width - pad_r}" y1="{_f(y(target))}" '
                   f'y2="{_f(y(target))}"><title>{escape(target_label)}: {_f(target)}{unit}</title></line>'
                   f'<text class="tick target-label" x="{width - pad_r}" y="{_f(y(target) - 4)}" '
                   f'text-anchor="end">{escape(target_label)} {_f(target)}{unit}</text>')
    for at, label in markers:
        if t0 <= at <= t1:
            mx = _f(x(at))
            out.append(f'<line class="marker" x1="{mx}" x2="{mx}" y1="{pad_t}" y2="{pad_t + ph}">'
                       f"<title>{escape(label)} at {at.strftime('%Y-%m-%d %H:%M')} UTC</title></line>")
    fmt = "%Y-%m-%d %H:%M" if span > 86400 else "%H:%M"
    out.append(f'<text class="tick" x="{pad_l}" y="{height - 6}">{t0.strftime(fmt)}</text>'
               f'<text class="tick" x="{width - pad_r}" y="{height - 6}" text-anchor="end">'
               f"{t1.strftime(fmt)} UTC</text>"
               "</svg>")
    return Markup("".join(out))


def hbars(items: Sequence[tuple[str, float]], *, title: str, unit: str = "s", width: int = 480) -> Markup:
    """Horizontal bars, one per (label, value), scaled to the largest value."""
    row, pad_l = 22, 110
    height = row * max(1, len(items)) + 4
    vmax = max([v for _, v in items] + [1e-9])
    out = [f'<svg class="bars" width="100%" viewBox="0 0 {width} {height}" role="img"><title>{escape(title)}</title>']
    for i, (label, v) in enumerate(items):
        w = v / vmax * (width - pad_l - 70)
        yy = i * row + 2
        out.append(f'<text class="tick" x="{pad_l - 6}" y="{yy + 14}" text-anchor="end">{escape(label)}</text>'
                   f'<rect class="bar" x="{pad_l}" y="{yy + 3}" width="{_f(max(w, 1))}" height="{row - 8}"/>'
                   f'<text class="tick" x="{_f(pad_l + w + 6)}" y="{yy + 14}">{_f(v)}{unit}</text>')
    out.append("</svg>")
    return Markup("".join(out))
