"""Moved to opscheck.report.charts (issue 10 §7); this name is kept so existing imports still work.

New code imports from opscheck.report.charts.
"""

from __future__ import annotations

from opscheck.report.charts import MAX_BINS, latency_svg, percentile_curve_svg

__all__ = ["MAX_BINS", "latency_svg", "percentile_curve_svg"]
