"""mpusweep: find, size, report and safely remove incomplete S3 multipart uploads."""

from __future__ import annotations

__version__ = "0.1.0"
