"""Draws the scaling suite's two curves as a dependency-free SVG: throughput against callers (4 connections,
with redis-benchmark at the same -c) and against connections (200 callers)."""
import json
import math
import sys

points = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by_callers = sorted((p for p in points if p["connections"] == 4), key=lambda p: p["callers"])
by_connections = sorted((p for p in points if p["callers"] == 200), key=lambda p: p["connections"])

W, H, M = 460, 300, 60
ymax = max(max(p["ours_ops_per_sec"], p["redis_benchmark_ops_per_sec"]) for p in points) * 1.1
ystep = 10 ** math.floor(math.log10(ymax / 4))
ystep *= 5 if ymax / ystep > 20 else (2 if ymax / ystep > 8 else 1)


def panel(x0, title, xs, series, xlabel):
    out = [f'<g transform="translate({x0},0)">',
           f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{title}</text>']
    lx = [math.log2(x) for x in xs]
    lo, hi = min(lx), max(lx)
    sx = lambda v: M + (math.log2(v) - lo) / ((hi - lo) or 1) * (W - 2 * M)
    sy = lambda v: H - M + 10 - v / ymax * (H - 2 * M)
    y = 0
    while y <= ymax:
        out.append(f'<line x1="{M}" x2="{W - M}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{M - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="11">{y / 1000:.0f}k</text>')
        y += ystep
    for x in xs:
        out.append(f'<text x="{sx(x):.1f}" y="{H - M + 28}" text-anchor="middle" font-size="11">{x}</text>')
    out.append(f'<text x="{W / 2}" y="{H - 12}" text-anchor="middle" font-size="12">{xlabel}</text>')
    out.append(f'<text x="16" y="{H / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 16 {H / 2})">GET ops/s</text>')
    for label, values, color in series:
        path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(v):.1f}" for i, (x, v) in enumerate(zip(xs, values)))
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2.5"/>')
        out += [f'<circle cx="{sx(x):.1f}" cy="{sy(v):.1f}" r="3.5" fill="{color}"/>' for x, v in zip(xs, values)]
    for i, (label, _, color) in enumerate(series):
        out.append(f'<rect x="{M + 10}" y="{40 + 18 * i}" width="14" height="4" fill="{color}"/>')
        out.append(f'<text x="{M + 30}" y="{46 + 18 * i}" font-size="12">{label}</text>')
    out.append("</g>")
    return out


svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H}" font-family="sans-serif">',
       f'<rect width="{2 * W}" height="{H}" fill="white"/>']
svg += panel(0, "Throughput vs concurrent callers (4 connections)", [p["callers"] for p in by_callers],
             [("HiredisClient", [p["ours_ops_per_sec"] for p in by_callers], "#1f77b4"),
              ("redis-benchmark (same -c)", [p["redis_benchmark_ops_per_sec"] for p in by_callers], "#999")],
             "concurrent callers (log scale)")
svg += panel(W, "Throughput vs connections (200 callers)", [p["connections"] for p in by_connections],
             [("HiredisClient", [p["ours_ops_per_sec"] for p in by_connections], "#1f77b4")],
             "connections in the pool (log scale)")
svg.append("</svg>")
open(sys.argv[2], "w").write("\n".join(svg) + "\n")
