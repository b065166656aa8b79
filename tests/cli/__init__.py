"""Tests of the command line (``recordkit.cli``), one module per module of the package.

A package (this file) so that pytest names these modules ``cli.test_runs``…: their basenames may
repeat the library tests' (``tests/test_runs.py`` tests ``Run``; ``tests/cli/test_runs.py`` its commands).
"""
