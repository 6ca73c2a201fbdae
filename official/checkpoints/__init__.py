"""The checkpoints: `readers` (the TF1, Garden and native readers with declared name tables,
`load_into`, `detect_format`) and `files` (official names and URLs, the download cache,
prefix lookup, `CheckpointError`, `DownloadError`).

Example:
    >>> from official.checkpoints import files
    >>> files.OFFICIAL["resnet-rs-50-i160"]
    (50, 160)
"""

__all__ = ["files", "readers"]
