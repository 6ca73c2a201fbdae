"""The workdir under the faults of long runs: a second run, a full disk, a crash mid-save.

Three guarantees, each in one place here:

* **One run per workdir.** `WorkdirLock` holds an exclusive `fcntl.flock` on
  ``{workdir}/trainer.lock``, which names the holder (host, PID, start time). A second
  trainer is refused at start-up with that name; the kernel drops the lock when its
  holder dies however it dies, so a lock file left by a dead process is simply taken
  over (and the take-over logged). Readers (evaluation) never take it.
* **No leftovers of a crashed save.** `clean_checkpoint_leftovers` removes what an
  interrupted `tf.train.CheckpointManager.save` leaves (``ckpt-N_temp/`` shard folders,
  ``*.tempstate*`` files, the state file's ``checkpoint.tmp*``, a merged checkpoint newer
  than the newest one the ``checkpoint`` state file records) and never a file of a
  checkpoint that state file names. `replacing_dir` writes a directory (a SavedModel)
  next to its final place and swaps it in, so a crash leaves the previous one in place;
  `remove_partial_dirs` removes the staging left by a crash (or puts the previous
  directory back if the crash fell between the two renames of the swap).
* **Write errors say what they need.** `writing` turns a full disk, a quota, a read-only
  or forbidden path into `WriteError`: the path, what was being written, the free space
  against the size needed, and what was kept. `save_checkpoint` wraps the manager's save
  so that a failed save leaves only the previous checkpoints.

Example:
    >>> checkpoint = tf.train.Checkpoint(step=tf.Variable(22))
    >>> manager = tf.train.CheckpointManager(checkpoint, "run/checkpoints", max_to_keep=3)
    >>> with WorkdirLock("run"):
    ...     removed = clean_checkpoint_leftovers("run/checkpoints")
    ...     prefix = save_checkpoint(manager, step=22)
    >>> prefix
    'run/checkpoints/ckpt-22'
"""

import contextlib
import datetime
import errno
import fcntl
import json
import os
import re
import shutil
import socket

from absl import logging
import tensorflow as tf

LOCK_FILE = "trainer.lock"

# errno values that mean "this storage cannot take the write", not a bug in the caller.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                 errno.EIO)
# TensorFlow's file system layer reports errno as text inside an OpError.
_WRITE_MESSAGES = ("No space left on device", "Disk quota exceeded", "Read-only file system",
                   "Permission denied", "File too large", "Input/output error")


class WriteError(OSError):
    """Storage refused a write (full disk, quota, read-only or forbidden path).

    The message names the path, what was being written, the free space against the
    size needed and what was kept; nothing half-written is left behind.
    """


class WorkdirLocked(RuntimeError):
    """Another live training run holds the workdir; the message names it."""


def is_local(path):
    """True for a path of the local (or a mounted network) file system, not gs:// etc."""
    return "://" not in os.fspath(path)


def _mib(num_bytes):
    return f"{num_bytes / 2**20:.1f} MiB"


def free_bytes(path):
    """Free bytes on the file system holding `path` (its nearest existing ancestor)."""
    path = os.path.abspath(os.fspath(path))
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return shutil.disk_usage(path).free


def is_write_error(error):
    """True if `error` (OSError or tf.errors.OpError) means the storage refused a write."""
    if isinstance(error, WriteError):
        return True
    if isinstance(error, OSError):
        return error.errno in _WRITE_ERRNOS
    if isinstance(error, tf.errors.OpError):
        return any(m in str(error) for m in _WRITE_MESSAGES)
    return False


def _reason(error):
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error)
    return next((m for m in _WRITE_MESSAGES if m in text), text.splitlines()[0][:200])


@contextlib.contextmanager
def writing(path, what, needed=None, kept="", cleanup=None):
    """Turns a refused write inside the block into a `WriteError` that says what is needed.

    Args:
        path: the file or directory being written (named in the message).
        what: what is being written ("checkpoint ckpt-44", "TFRecord shards of 'train'").
        needed: bytes it needs about, or a function returning them when asked
            (None: unknown).
        kept: what is left untouched, for the message ("the last good checkpoint ...").
        cleanup: called before the error is raised, to remove the half-written part.

    Raises:
        WriteError: from OSError / tf.errors.OpError that `is_write_error` accepts;
            other errors pass through unchanged (`cleanup` runs for them too).

    Example:
        >>> with writing("out", "the report", needed=2**10):
        ...     with open("report.txt", "w") as f:
        ...         _ = f.write("done")
    """
    try:
        yield
    except BaseException as e:
        if cleanup is not None:
            try:
                cleanup()
            except OSError as cleanup_error:   # the original error matters more
                logging.warning("could not remove the half-written %s: %s", what, cleanup_error)
        if isinstance(e, WriteError) or not is_write_error(e):
            raise
        parts = [f"cannot write {what} to {path}: {_reason(e)}."]
        if callable(needed):
            needed = needed()
        if is_local(path):
            space = f"{_mib(free_bytes(path))} free on its file system"
            parts.append(f"{space}; it needs about {_mib(needed)}." if needed else f"{space}.")
        parts.append("Nothing half-written was left behind" + (f"; {kept}." if kept else "."))
        error = WriteError(" ".join(parts))
        error.errno = getattr(e, "errno", None) or (
            errno.ENOSPC if "No space left" in str(e) else errno.EIO)
        raise error from e


# ----------------------------------------------------------------------- lock

class WorkdirLock:
    """An exclusive lock on a workdir for one training run (a context manager).

    The lock file holds the holder's host, PID and start time as JSON; the lock
    itself is `fcntl.flock` on it, which the kernel releases when the process ends
    (crash, SIGKILL, OOM kill included), so a stale file never blocks a new run.
    Non-local workdirs (gs://) cannot be locked this way: a warning says so.

    Args:
        workdir: the run's directory (created).
        enabled: False on the non-chief workers of a multi-worker run (the chief
            holds the lock for the whole run).

    Raises:
        WorkdirLocked: another live process holds it (named in the message).

    Example:
        >>> with WorkdirLock("run"):
        ...     pass   # train here; a second run on "run" raises WorkdirLocked meanwhile
    """

    def __init__(self, workdir, enabled=True):
        self.workdir = os.fspath(workdir)
        self.path = os.path.join(self.workdir, LOCK_FILE)
        self.enabled = enabled
        self._fd = None

    def __enter__(self):
        if not self.enabled:
            return self
        if not is_local(self.workdir):
            logging.warning("--workdir=%s is not on a local file system: it cannot be locked, so "
                            "make sure no other run uses it", self.workdir)
            return self
        with writing(self.workdir, f"the lock file {LOCK_FILE}"):
            os.makedirs(self.workdir, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise WorkdirLocked(
                f"--workdir={self.workdir} is in use by another training run ({_describe(holder)}; "
                f"lock file {self.path}). Stop that run first or use another --workdir; "
                "evaluating its checkpoints (tools/evaluate.py) is safe meanwhile") from None
        previous = _read_holder(fd)
        if previous:
            # The file names a holder but nobody holds the lock: that process is gone.
            logging.warning("taking over the lock %s left by %s, which is no longer running",
                            self.path, _describe(previous))
        holder = {"host": socket.gethostname(), "pid": os.getpid(),
                  "since": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
        try:
            with writing(self.path, "the lock file"):
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(holder).encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)     # an empty file: released, not stale
            finally:
                os.close(self._fd)             # closing releases the flock
                self._fd = None


def _read_holder(fd):
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return {"unreadable": True}


def _describe(holder):
    if not holder or "pid" not in holder:
        return "an unknown process"
    return f"PID {holder['pid']} on host {holder.get('host', '?')}, since {holder.get('since', '?')}"


# ------------------------------------------------------------------ checkpoints

def _checkpoint_number(name):
    match = re.fullmatch(r".*-(\d+)", name)
    return int(match.group(1)) if match else None


def _remove(path):
    if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
    else:
        tf.io.gfile.remove(path)


def clean_checkpoint_leftovers(directory):
    """Removes what interrupted saves left in a CheckpointManager directory.

    Removed: ``*_temp`` shard folders, ``*.tempstate*`` files, ``checkpoint.tmp*``
    (a half-written state file) and the files of a checkpoint newer than the newest
    the ``checkpoint`` state file records (a save killed before it was recorded: the
    resumed run writes it again). Never touched: any file of a checkpoint the state
    file names, anything when there is no state file but the shard folders.

    Returns:
        the removed names (logged).

    Example:
        >>> manager = tf.train.CheckpointManager(tf.train.Checkpoint(), "run/checkpoints", 3)
        >>> _ = manager.save(checkpoint_number=43)
        >>> os.makedirs("run/checkpoints/ckpt-44_temp")    # a save killed while writing
        >>> clean_checkpoint_leftovers("run/checkpoints")
        ['ckpt-44_temp']
    """
    directory = os.fspath(directory)
    if not tf.io.gfile.isdir(directory):
        return []
    state = tf.train.get_checkpoint_state(directory)
    named = set()
    if state is not None:
        named = {os.path.basename(p) for p in
                 [state.model_checkpoint_path, *state.all_model_checkpoint_paths] if p}
    numbers = [n for n in map(_checkpoint_number, named) if n is not None]
    newest = max(numbers) if numbers else None
    removed = []
    for entry in sorted(tf.io.gfile.listdir(directory)):
        name = entry.rstrip("/")
        prefix = name.split(".", 1)[0]
        if prefix in named and not name.endswith("_temp"):
            continue                            # a checkpoint the state file names
        number = _checkpoint_number(prefix)
        stale = (name.endswith("_temp") or ".tempstate" in name or name.startswith("checkpoint.tmp")
                 or (newest is not None and number is not None and number > newest
                     and prefix.startswith("ckpt-")))
        if stale:
            _remove(os.path.join(directory, name))
            removed.append(name)
    if removed:
        logging.warning("removed the leftovers of an interrupted checkpoint save in %s: %s",
                        directory, ", ".join(removed))
    return removed


def checkpoint_bytes(prefix):
    """Bytes on disk of checkpoint `prefix` (its .index and .data-* files), None if absent."""
    if not prefix:
        return None
    files = tf.io.gfile.glob(prefix + ".*")
    return sum(tf.io.gfile.stat(f).length for f in files) if files else None


def variables_bytes(trackable):
    """Bytes of every variable `trackable` (a tf.train.Checkpoint) reaches."""
    seen, total = set(), 0
    for obj in tf.train.TrackableView(trackable).descendants():
        if isinstance(obj, tf.Variable) and id(obj) not in seen:
            seen.add(id(obj))
            total += obj.shape.num_elements() * obj.dtype.size
    return total


def save_checkpoint(manager, step):
    """`manager.save(checkpoint_number=step)`; a failed save leaves only the previous ones.

    On any failure the partial files of this save are removed before the error goes
    on; a refused write raises `WriteError` naming the directory, the free space and
    the size needed (the previous checkpoint's size, or the variables' on the first).

    Returns:
        the new checkpoint's prefix.

    Example:
        >>> manager = tf.train.CheckpointManager(tf.train.Checkpoint(), "run/checkpoints", 3)
        >>> save_checkpoint(manager, 22)
        'run/checkpoints/ckpt-22'
    """
    latest = manager.latest_checkpoint
    needed = checkpoint_bytes(latest) or variables_bytes(manager.checkpoint)
    kept = (f"the last good checkpoint {os.path.basename(latest)} is untouched" if latest
            else "there was no earlier checkpoint")
    with writing(manager.directory, f"checkpoint ckpt-{step}", needed, kept,
                 cleanup=lambda: clean_checkpoint_leftovers(manager.directory)):
        return manager.save(checkpoint_number=step)


# ------------------------------------------------------------ replaced directories

def _staging_names(path):
    parent, base = os.path.split(os.path.abspath(os.fspath(path)))
    return parent, f".{base}.partial-", f".{base}.previous-"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_partial_dirs(path):
    """Removes the staging a crashed `replacing_dir(path)` left; restores a lost previous.

    A staging folder of a live process (another export in progress) is left alone.

    Returns:
        the removed names.
    """
    parent, partial, previous = _staging_names(path)
    if not os.path.isdir(parent):
        return []
    removed = []
    for name in sorted(os.listdir(parent)):
        if not name.startswith((partial, previous)):
            continue
        pid = name.rsplit("-", 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue
        full = os.path.join(parent, name)
        if name.startswith(previous) and not os.path.exists(path):
            # The crash fell between the two renames of the swap: the previous is the good one.
            os.replace(full, path)
            logging.warning("restored %s from %s (an interrupted replacement)", path, name)
            continue
        shutil.rmtree(full, ignore_errors=True)
        removed.append(name)
    if removed:
        logging.warning("removed the leftovers of an interrupted write of %s: %s", path,
                        ", ".join(removed))
    return removed


@contextlib.contextmanager
def replacing_dir(path, what, needed=None):
    """Yields a fresh staging folder that replaces directory `path` when the block succeeds.

    The staging folder lies next to `path` (same file system, so the swap is two
    renames); on any failure it is removed and `path` is left as it was. A refused
    write raises `WriteError` (`writing`).

    Example:
        >>> with replacing_dir("serving/1", "the SavedModel") as staging:
        ...     tf.saved_model.save(tf.Module(), staging)
        >>> sorted(os.listdir("serving/1"))
        ['assets', 'fingerprint.pb', 'saved_model.pb', 'variables']
    """
    path = os.path.abspath(os.fspath(path))
    parent, partial, previous = _staging_names(path)
    staging = os.path.join(parent, f"{partial}{os.getpid()}")
    old = os.path.join(parent, f"{previous}{os.getpid()}")
    kept = f"the previous {path} is untouched" if os.path.exists(path) else ""
    with writing(path, what, needed, kept, cleanup=lambda: shutil.rmtree(staging, ignore_errors=True)):
        os.makedirs(parent, exist_ok=True)
        remove_partial_dirs(path)
        os.makedirs(staging)
        yield staging
        if os.path.exists(path):
            os.replace(path, old)
            try:
                os.replace(staging, path)
            except OSError:
                os.replace(old, path)   # put the previous back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, path)


def dir_bytes(path):
    """Bytes of the files under `path` (0 if it does not exist)."""
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total
