"""A fast, safe autograder for the recurrent-networks course notebooks.

This module stays import-light: the probe side (zygote, probe, wire, execute, sandbox, inline)
must be importable without pulling in any check definitions.
"""

__version__ = "0.1.0"
