"""Inline SVG charts for the HTML report: stdlib only, deterministic, bounded in size.

Why stdlib SVG and no charting library: the charts must work offline, under a Content Security
Policy that forbids scripts, and give the same bytes for the same input (pygal, for one, loads
scripts from the web and makes random ids).

One module per job; imports point one way, from the top of this list down:

* `charts.latency`: `latency_svg` (histogram with threshold and percentile marks) and
  `percentile_curve_svg`; every percentile comes from opscheck.measure.stats.
* `charts.svg`: the primitives every chart shares: frame and axes, marks and their labels,
  text fitting, number formatting, the empty chart.
* `charts.scale`: round ticks on linear and log axes, axis maps, tick labels.
"""

from __future__ import annotations

from opscheck.report.charts.latency import MAX_BINS, latency_svg, percentile_curve_svg

__all__ = ["MAX_BINS", "latency_svg", "percentile_curve_svg"]
