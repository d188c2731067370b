"""Words and numbers in the HTML report: ages, labels for plotly, attribute text, and the
``data-figure`` spans that carry each number's raw value for machines (sizes: ``units``)."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from typing import Any

from ...aggregate import Tally
from .. import show_key
from ..units import report_size


def human_age(delta: timedelta | None, *, short: bool = False) -> str:
    """A duration in its largest whole unit; ``short`` for table cells.

    >>> human_age(timedelta(days=400)), human_age(timedelta(minutes=90)), human_age(None)
    ('400 days', '1 h', 'unknown')
    >>> human_age(timedelta(days=1, hours=5), short=True)
    '1 d'
    """
    if delta is None:
        return "?" if short else "unknown"
    seconds = delta.total_seconds()
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    days = int(seconds // 86400)
    if short:
        return f"{days} d"
    return f"{days} day" if days == 1 else f"{days} days"


def plotly_text(text: str, limit: int = 48) -> str:
    """A label for plotly: shortened in the middle, with ``<``, ``>`` and ``&`` as entities,
    since plotly reads tags (``<a href>``, ``<b>``) in its strings and decodes entities."""
    text = show_key(text)
    if len(text) > limit:
        half = (limit - 1) // 2
        text = text[:half] + "\u2026" + text[-(limit - 1 - half) :]
    return html.escape(text, quote=False)


def attr(value: str) -> str:
    """Text escaped for an attribute value, exactly kept by HTML parsing (a raw CR would be
    read as LF).

    >>> attr('a"<&\\r')
    'a&quot;&lt;&amp;&#13;'
    """
    return html.escape(value).replace("\r", "&#13;")


def figure(name: str, value: object, text: str | None = None) -> str:
    """A number in the page with its raw value as JSON (``null`` where unknown).

    >>> figure("total_uploads", 8, "8 uploads")
    '<span data-figure="total_uploads" data-value="8">8 uploads</span>'
    """
    shown = text if text is not None else str(value)
    raw = attr(json.dumps(value))
    hidden = "" if shown else " hidden"  # for machines only: no empty box in the layout
    return (
        f'<span data-figure="{attr(name)}" data-value="{raw}"{hidden}>{html.escape(shown)}</span>'
    )


def size_text(t: Tally) -> str:
    """Known bytes, marked as a lower bound when some sizes are unknown."""
    if t.known_size is None:
        return "unknown"
    return ("\u2265 " if t.unknown else "") + report_size(t.size)


def script_json(value: Any) -> str:
    """JSON to put inside ``<script>``: no ``</script>`` or ``<!--`` can close it early."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for raw, safe in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, safe)
    return text
