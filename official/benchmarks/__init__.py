"""Measurements: `throughput` (input, training step, inference, the Pareto curve) and `op_profile`
(a step's op time by kind of work). `peers/` holds the Model Garden's and timm's scripts that
official/cli/compare_performance.py runs in their own virtual environments (never imported here).

Example:
    >>> from official.benchmarks import op_profile
    >>> op_profile.op_kind("Conv2D")
    'convolution'
"""

__all__ = ["op_profile", "throughput"]
