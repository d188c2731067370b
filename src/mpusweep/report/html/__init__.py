"""The HTML report: one self-contained file, charts by plotly, readable offline.

``render_report(ReportData(...))`` returns the whole document as text. Everything it shows comes
from the ``ReportData`` given (the caller strips credentials from the endpoint first); styles,
script and plotly.js are inline, so the file opens from disk with no network at all.

Every figure in the page carries its raw value for machines: ``data-figure="total_bytes"
data-value='15216790900'`` (the value is JSON: ``null`` where unknown), so a test or a script
can compare the page with ``scan --format json``.

plotly and Jinja2 come with the optional extra: ``pip install 'mpusweep[report]'``.

Modules: ``page`` (the data and the page), ``charts`` (plotly figures and themes), ``words``
(sizes, ages, labels and figure spans); the Jinja2 template, styles and script are in
``mpusweep/report/templates``.
"""

from __future__ import annotations

from ..units import report_size as human_size
from .charts import TrendPoint, axis_unit
from .page import (
    CHART_ROWS,
    INSTALL_HINT,
    LARGEST,
    ROWS_SHOWN,
    ReportData,
    render_report,
    require_libraries,
)
from .words import attr, figure, human_age, plotly_text, script_json

__all__ = [
    "CHART_ROWS",
    "INSTALL_HINT",
    "LARGEST",
    "ROWS_SHOWN",
    "ReportData",
    "TrendPoint",
    "attr",
    "axis_unit",
    "figure",
    "human_age",
    "human_size",
    "plotly_text",
    "render_report",
    "require_libraries",
    "script_json",
]
