"""The run history: per-bucket totals of every run in a SQLite database, and the trends in them.

``schema``: the file, its schema and migrations. ``store``: ``History``, which records runs
and reads them back. ``records``: what it gives back. ``output``: JSON and CSV for programs.
"""

from __future__ import annotations

from .records import BucketTrend, Change, Observation, RunTotal, Service, service_sort_key
from .schema import (
    APPLICATION_ID,
    DEFAULT_TIMEOUT,
    MIGRATIONS,
    SCHEMA_VERSION,
    HistoryError,
    default_history_path,
    migrate,
)
from .store import History

__all__ = [
    "APPLICATION_ID",
    "DEFAULT_TIMEOUT",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "BucketTrend",
    "Change",
    "History",
    "HistoryError",
    "Observation",
    "RunTotal",
    "Service",
    "default_history_path",
    "migrate",
    "service_sort_key",
]
