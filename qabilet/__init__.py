"""qabilet: an adaptive psychometric testing engine.

The numeric core lives in :mod:`qabilet.engine`, estimation of item parameters in :mod:`qabilet.calibration`,
the item bank in :mod:`qabilet.itembank` and the HTTP layer in :mod:`qabilet.api`. This small package holds the
version and the command-line interface, which imports the others lazily.
"""

from qabilet._version import __version__

__all__ = ["__version__"]
