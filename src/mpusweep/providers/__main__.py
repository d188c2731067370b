"""``python -m mpusweep.providers``: docs/providers.md; ``--readme``: the README's table."""

from __future__ import annotations

import sys

from .docs import markdown, readme_table

sys.stdout.write(readme_table() + "\n" if "--readme" in sys.argv[1:] else markdown())
