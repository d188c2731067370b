"""A run's figures and their Prometheus textfile.

``figures``: what one run saw, per bucket and per command (``BucketFigures``, ``RunFigures``,
``FiguresBuilder``), which history records too. ``writer``: the textfile for node_exporter's
textfile collector (``write_metrics``), with every metric it writes described there.
"""

from __future__ import annotations

from .figures import (
    BucketFigures,
    FiguresBuilder,
    RunFigures,
    bucket_figures,
    left_after,
    sorted_figures,
)
from .writer import METRICS, metric_families, read_last_success, write_metrics

__all__ = [
    "METRICS",
    "BucketFigures",
    "FiguresBuilder",
    "RunFigures",
    "bucket_figures",
    "left_after",
    "metric_families",
    "read_last_success",
    "sorted_figures",
    "write_metrics",
]
