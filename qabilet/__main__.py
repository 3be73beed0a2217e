"""Run the command-line interface as ``python -m qabilet``."""

from qabilet.cli import main

if __name__ == "__main__":
    main()
