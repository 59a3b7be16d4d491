"""Small SVG charts drawn on the server: no chart library on the phone, readable at 360 px.

Pure functions from numbers to SVG text; every label is escaped.
"""

from __future__ import annotations

from markupsafe import escape

COLOURS = ["#b71c1c", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a"]
FONT = 'font-family="sans-serif"'


def line_chart(title: str, labels: list[str], series: list[tuple[str, list[float]]],
               width: int = 360, height: int = 240) -> str:
    """One line per series over the labels (days), with the last value written at its end."""
    left, right, top, bottom = 34, 12, 40, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for _, values in series for v in values] + [1])
    step = plot_w / max(len(labels) - 1, 1)

    def point(i: int, value: float) -> tuple[float, float]:
        return left + i * step, top + plot_h - value / peak * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{escape(title)}">',
             f'<rect width="{width}" height="{height}" fill="#fff"/>',
             f'<text x="{left}" y="18" font-size="14" font-weight="bold" {FONT}>{escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
             'stroke="#999"/>',
             f'<text x="{left - 4}" y="{top + 4}" font-size="10" text-anchor="end" {FONT}>'
             f'{peak:g}</text>',
             f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end" {FONT}>'
             '0</text>']
    for i, label in enumerate(labels):
        if i in (0, len(labels) - 1) or i % 7 == 0:
            x, _ = point(i, 0)
            anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
            parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" font-size="10" '
                         f'text-anchor="{anchor}" {FONT}>{escape(label[5:])}</text>')
    for n, (name, values) in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, v) for i, v in enumerate(values)))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        legend_x = left + (n % 2) * (plot_w / 2)
        legend_y = top + plot_h + 34 + (n // 2) * 14
        last = values[-1] if values else 0
        parts.append(f'<rect x="{legend_x:.1f}" y="{legend_y - 8}" width="10" height="3" '
                     f'fill="{colour}"/><text x="{legend_x + 14:.1f}" y="{legend_y - 4}" '
                     f'font-size="10" {FONT}>{escape(name)} {last:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, bars: list[tuple[str, float, str]], width: int = 360) -> str:
    """Horizontal bars of fractions 0..1, one per (label, fraction, text shown at its end)."""
    row, top, label_w = 26, 30, 110
    height = top + row * max(len(bars), 1) + 10
    bar_w = width - label_w - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{escape(title)}">',
             f'<rect width="{width}" height="{height}" fill="#fff"/>',
             f'<text x="4" y="18" font-size="14" font-weight="bold" {FONT}>{escape(title)}</text>']
    for i, (label, fraction, text) in enumerate(bars):
        y = top + i * row
        fraction = min(max(fraction, 0.0), 1.0)
        colour = "#2e7d32" if fraction >= 1 else "#b71c1c" if fraction < 0.5 else "#ef6c00"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" text-anchor="end" {FONT}>'
            f'{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="14" fill="#eee"/>'
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w * fraction:.1f}" height="14" '
            f'fill="{colour}"/>'
            f'<text x="{label_w + bar_w + 4}" y="{y + 15}" font-size="11" {FONT}>'
            f'{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)
