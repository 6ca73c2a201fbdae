"""The run's environment: `distribute` (strategies by name), `precision` (policies, CPU bfloat16,
top-k agreement), `precision_probe` (bfloat16 measured on this machine), `workdir` (one run per
workdir, crashed saves, full disks), `quiet` (the CLIs' quiet TensorFlow start-up).

Example:
    >>> from official.runtime import distribute
    >>> distribute.STRATEGIES[0]
    'auto'
"""

__all__ = ["distribute", "precision", "precision_probe", "quiet", "workdir"]
