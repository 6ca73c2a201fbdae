"""Where checkpoints live: official names and URLs, the download cache, and prefixes.

An official name (``resnet-rs-50-i160`` ... ``resnet-rs-420-i320``) resolves to the
official tarball of a family, downloaded once into a cache (``$RESNET_RS_CACHE``,
else ``~/.cache/resnet_rs``), checked and unpacked safely: a failure at any point
leaves nothing half-written there. A local prefix, ``.index`` file or directory
resolves to its checkpoint prefix. The readers are in official/checkpoints/readers.py.

Example:
    >>> resolve("resnet-rs-50-i160", format="tf1")  # downloads 0.3 GB once  # doctest: +SKIP
    '.../tf1/resnet-rs-50-i160/resnet-rs-50-i160/model.ckpt'
    >>> _ = tf.train.Checkpoint(step=tf.Variable(3)).write("run/checkpoints/ckpt-3")
    >>> find_checkpoint("run/checkpoints")
    'run/checkpoints/ckpt-3'
"""

import os
import re
import shutil
import tarfile
import tempfile
import urllib.request

from absl import logging
import tensorflow as tf

from official import families
from official import published
from official.validation import check_choice

# --------------------------------------------------------------------------- names, URLs --
# Views of official/published.py's table: name -> (depth, resolution), and each family's URLs.
OFFICIAL = {c.name: (c.depth, c.image_size) for c in published.CHECKPOINTS.values()}
URL_PATTERNS = {f.checkpoint_format: f.url_pattern for f in families.FAMILIES.values()}
CACHE_ENV = "RESNET_RS_CACHE"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read into the model; the message names the culprit."""


class DownloadError(IOError):
    """An official checkpoint could not be fetched or unpacked; nothing was cached."""


def official_info(name):
    """(depth, image_size) of an official checkpoint name.

    Example:
        >>> official_info("resnet-rs-152-i256")
        (152, 256)
    """
    try:
        entry = published.get(name)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    return entry.depth, entry.image_size


def official_url(name, format="tf1"):
    """The download URL of an official checkpoint of the given family.

    Example:
        >>> official_url("resnet-rs-50-i160", "garden")
        'https://storage.googleapis.com/tf_model_garden/vision/resnet-rs/resnet-rs-50-i160.tar.gz'
    """
    official_info(name)
    check_choice("the format of an official checkpoint", format, URL_PATTERNS, error=CheckpointError)
    try:
        return published.get(name).url(families.of_format(format))
    except ValueError as e:
        raise CheckpointError(f"{e}; use format='tf1'") from None


def default_cache_dir():
    """$RESNET_RS_CACHE, else ~/.cache/resnet_rs."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "resnet_rs")


def image_size_of(path_or_name):
    """The training resolution named in an official name or a path (``...-i160``), or None."""
    match = re.search(r"resnet-?rs-?\d+[-_]i(\d+)", str(path_or_name))
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- locating --
def find_checkpoint(path):
    """The checkpoint prefix for a prefix, an ``.index`` file or a directory.

    A directory's ``checkpoint`` file is used when it names an existing
    checkpoint; some TF1 tarballs have none, or one naming paths on the training
    machine, so the directory is then searched for ``*.index`` files (docs/fidelity.md #14).

    Raises:
        FileNotFoundError: nothing at ``path``, or several candidates.
    """
    path = os.fspath(path)
    if path.endswith(".index") and os.path.isfile(path):
        return path[:-len(".index")]
    if os.path.isfile(path + ".index"):
        return path
    if not os.path.isdir(path):
        raise FileNotFoundError(f"checkpoint {path!r} not found: no file {path}.index and no directory {path}")
    latest = tf.train.latest_checkpoint(path)
    if latest and os.path.isfile(latest + ".index"):
        return latest
    found = []
    for root, _, files in os.walk(path):
        found += [os.path.join(root, f[:-len(".index")]) for f in files if f.endswith(".index")]
    if not found:
        raise FileNotFoundError(f"no checkpoint (*.index file) under directory {path!r}")
    if len(found) > 1:
        # A Garden model_dir holds ckpt-N and ema_checkpoints/average_weights-N: the top level
        # with the highest step wins only when it is unambiguous.
        top = [f for f in found if os.path.dirname(f) == path.rstrip(os.sep)]
        if len(top) != 1:
            raise FileNotFoundError(f"several checkpoints under {path!r}: {sorted(found)}; pass one prefix")
        found = top
    return found[0]


def _safe_members(tar, archive):
    """Every member of ``tar``, after refusing any that would land outside the target."""
    members = tar.getmembers()
    for m in members:
        name = m.name
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or os.path.isabs(name) or re.match(r"^[A-Za-z]:", name):
            raise DownloadError(f"{archive}: member {name!r} has an absolute path; refusing to unpack")
        if ".." in parts:
            raise DownloadError(f"{archive}: member {name!r} would land outside the cache directory")
        if not (m.isfile() or m.isdir()):
            raise DownloadError(f"{archive}: member {name!r} is a link or special file; refusing to unpack")
    return members


def _download(url, destination):
    """Streams ``url`` into the file ``destination`` with progress; checks the length."""
    with urllib.request.urlopen(url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0)
        done, next_report = 0, 0.0
        with open(destination, "wb") as f:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                f.write(chunk)
                done += len(chunk)
                if total and done / total >= next_report:
                    logging.info("downloading %s: %d%% of %.1f MB", url, 100 * done // total, total / 1e6)
                    next_report += 0.1
    if total and done != total:
        raise DownloadError(f"download of {url} truncated: {done} of {total} bytes")


def fetch_official(name, format="tf1", cache_dir=None, url=None):
    """Downloads, checks and unpacks an official tarball once; returns its directory.

    The tarball goes to a temporary file in the cache, is checked (gzip/tar
    integrity, no member outside the target, a checkpoint inside), unpacked into
    a temporary directory and renamed into place, so a failure at any point
    leaves nothing half-written in the cache.

    Args:
        name: an official name, e.g. "resnet-rs-50-i160".
        format: "tf1" or "garden" (the two families publish different weights).
        cache_dir: where to keep it (default :func:`default_cache_dir`).
        url: override the official URL (mirrors, tests).

    Returns:
        The directory holding the unpacked checkpoint.
    """
    url = url or official_url(name, format)
    cache_dir = cache_dir or default_cache_dir()
    final = os.path.join(cache_dir, format, name)
    if os.path.isdir(final):
        return final
    os.makedirs(os.path.dirname(final), exist_ok=True)
    fd, archive = tempfile.mkstemp(prefix=f".{name}-", suffix=".tar.gz.part", dir=os.path.dirname(final))
    os.close(fd)
    unpack = tempfile.mkdtemp(prefix=f".{name}-", suffix=".unpack", dir=os.path.dirname(final))
    try:
        logging.info("fetching %s checkpoint %s from %s", format, name, url)
        try:
            _download(url, archive)
        except DownloadError:
            raise
        except Exception as e:  # urllib raises several unrelated types; report them alike.
            raise DownloadError(f"download of {url} failed: {e}; nothing was cached") from e
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = _safe_members(tar, url)
                tar.extractall(unpack, members=members, filter="data")
        except tarfile.TarError as e:
            raise DownloadError(f"{url} is not a readable tarball ({e}); nothing was cached") from e
        except (EOFError, OSError) as e:
            if isinstance(e, DownloadError):
                raise
            raise DownloadError(f"{url} is truncated or corrupt ({e}); nothing was cached") from e
        try:
            find_checkpoint(unpack)
        except FileNotFoundError as e:
            raise DownloadError(f"{url} holds no checkpoint: {e}") from e
        os.replace(unpack, final)
    finally:
        if os.path.exists(archive):
            os.remove(archive)
        if os.path.isdir(unpack):
            shutil.rmtree(unpack, ignore_errors=True)
    logging.info("cached %s at %s", name, final)
    return final


def resolve(name_or_path, format="tf1", cache_dir=None, url=None):
    """A local checkpoint prefix for an official name, a prefix or a directory.

    Example:
        >>> _ = tf.train.Checkpoint(step=tf.Variable(3)).write("run/ckpt-3")
        >>> resolve("run/ckpt-3")
        'run/ckpt-3'
    """
    name_or_path = os.fspath(name_or_path)
    if name_or_path in OFFICIAL:
        if format not in URL_PATTERNS:
            raise CheckpointError(f"{name_or_path} is an official name; use --checkpoint_format=tf1 or garden")
        return find_checkpoint(fetch_official(name_or_path, format, cache_dir, url))
    if os.path.exists(name_or_path) or os.path.exists(name_or_path + ".index"):
        return find_checkpoint(name_or_path)
    if re.match(r"^resnet-?rs", os.path.basename(name_or_path), re.IGNORECASE) and os.sep not in name_or_path:
        raise CheckpointError(f"unknown official checkpoint name {name_or_path!r}; known names: "
                              f"{', '.join(OFFICIAL)}")
    raise FileNotFoundError(f"checkpoint {name_or_path!r} not found: not a checkpoint prefix, not a "
                            f"directory, not an official name ({', '.join(OFFICIAL)})")
