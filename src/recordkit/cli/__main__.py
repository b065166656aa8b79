"""``python -m recordkit.cli``: the same command line as ``recordkit`` and ``python -m recordkit``."""

from recordkit.cli import main

main()
