"""Run the command-line interface as ``python -m qabilet``."""

from qabilet.cli import main

main()
