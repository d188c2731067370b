"""``python -m mpusweep``."""

from mpusweep.cli import main

main()
