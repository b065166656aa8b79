"""``python -m recordkit``: the same command line as ``recordkit``."""

from recordkit.cli import main

main(prog_name="recordkit")
