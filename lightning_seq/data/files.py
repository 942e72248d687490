"""Fetch and verify data files.

Bytes are hashed before anything parses or unpickles them, and the bytes that were hashed
are the ones that get loaded: ``reuters.npz`` holds pickled objects, so an unverified copy
could run arbitrary code when loaded. The dataset files are small (a few MB), so they are
held in memory whole.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import io
import os
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lightning_seq.errors import NotWritable, UserError

DATA_ENV = "LIGHTNING_SEQ_DATA"


class DataIntegrityError(UserError, RuntimeError):
    """A data file exists but its hash is not the published one."""


class DataUnavailableError(UserError, FileNotFoundError):
    """A data file is missing and could not be downloaded."""


@dataclass(frozen=True)
class RemoteFile:
    """A published file, pinned by its hash."""

    name: str
    url: str
    algorithm: str
    digest: str

    def check(self, payload: bytes, source: str | Path) -> None:
        """Raise :class:`DataIntegrityError` unless ``payload`` has the published hash."""
        actual = hashlib.new(self.algorithm, payload).hexdigest()
        if actual != self.digest:
            raise DataIntegrityError(
                f"{source} is not the published {self.name}: expected {self.algorithm} {self.digest}, got {actual}. "
                f"It was not loaded. Delete it (it is truncated or corrupted) so that lightning_seq downloads it "
                f"again, or replace it with a verified copy from {self.url}."
            )


def download(spec: RemoteFile, directory: Path, timeout: float = 60.0) -> bytes:
    """Download ``spec`` into ``directory``; the file gets its final name only once its hash matches."""
    with urllib.request.urlopen(spec.url, timeout=timeout) as response:
        payload = response.read()
    spec.check(payload, spec.url)
    atomic_write(directory / spec.name, payload)
    return payload


def read_verified(spec: RemoteFile, directory: Path, allow_download: bool = True) -> bytes:
    """The verified bytes of ``spec`` from ``directory``, downloaded first when missing."""
    path = directory / spec.name
    if path.exists():
        payload = path.read_bytes()
        spec.check(payload, path)
        return payload
    if not allow_download:
        raise DataUnavailableError(_missing_message(spec, directory, "downloading is switched off (download=False)"))
    try:
        return download(spec, directory)
    except OSError as error:  # urllib's URLError is an OSError; so are disk errors
        raise DataUnavailableError(_missing_message(spec, directory, f"the download failed: {error}")) from error


def atomic_write(path: Path, payload: bytes) -> None:
    """Write ``payload`` through :func:`atomic_file`."""
    with atomic_file(path) as file:
        file.write(payload)


# What the user can do about a write that failed, by errno; others are named by the system's own words.
_WRITE_ADVICE = {
    errno.ENOSPC: "the disk is full; free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is used up; free some space or write elsewhere",
    errno.EFBIG: "the file grew past the size this system allows (ulimit -f, or the file system's limit); "
    "write elsewhere",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.EACCES: "permission denied; write to a folder you may write to",
    errno.EPERM: "permission denied; write to a folder you may write to",
    errno.EISDIR: "it is a folder; give a file name",
    errno.ENOTDIR: "a part of the path is a file, not a folder; give a path under a folder",
    errno.ENAMETOOLONG: "the name is too long; give a shorter one",
}


def not_writable(path: Path, error: OSError) -> NotWritable:
    """``error`` (from creating, writing or renaming ``path``) as one line naming the path, the reason and the fix.

    The result keeps the system's ``strerror``, for callers that word their own message (``errno`` stays unset:
    it would replace the message in ``str()``).
    """
    reason = _WRITE_ADVICE.get(error.errno, error.strerror or str(error))
    result = NotWritable(f"cannot write {path}: {reason}; nothing was written under that name")
    result.strerror = error.strerror or reason
    return result


class _Output(io.FileIO):
    """A file whose failed writes (a full disk, a size limit) raise :class:`NotWritable` naming the final path.

    Only the writes are translated: an ``OSError`` raised by the caller's own code (reading its input, say) inside
    ``atomic_file`` stays what it is.
    """

    def __init__(self, descriptor: int, path: Path) -> None:
        super().__init__(descriptor, "wb")
        self.path = path

    def write(self, data: bytes | bytearray | memoryview, /) -> int | None:
        try:
            return super().write(data)
        except OSError as error:
            raise not_writable(self.path, error) from None


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file to write that appears as ``path`` only once complete: a crash or a full disk leaves ``path`` as it was.

    The bytes go to a hidden temporary file in the same directory (a rename across file systems would be a
    copy, which can stop halfway), are flushed to the disk, and the file is then renamed over ``path``. Failing to
    create, write or rename it raises :class:`NotWritable` naming ``path`` and the reason (a full disk, a read-only
    file system, a folder in the way); the temporary file, and any folder made for it, is removed whatever happens.
    """
    path = Path(path)
    if path.is_dir():
        raise not_writable(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
    made = [parent for parent in (path.parent, *path.parent.parents) if not parent.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        _remove_folders(made)
        if isinstance(error, FileExistsError):  # mkdir: an ancestor that exists is a file
            error = NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        raise not_writable(path, error) from None
    file = io.BufferedWriter(_Output(descriptor, path))
    try:
        yield file
        try:
            file.flush()
            os.fsync(file.fileno())
            file.close()
            os.chmod(temporary, 0o644)  # temporary files are created private; the result is an ordinary file
            os.replace(temporary, path)
        except NotWritable:
            raise
        except OSError as error:
            raise not_writable(path, error) from None
    except BaseException:
        with suppress(Exception):  # the write already failed, or the caller's own error is the one to report
            file.close()
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        _remove_folders(made)
        raise


def _remove_folders(folders: list[Path]) -> None:
    """Remove the folders ``atomic_file`` made (deepest first) when it wrote nothing, unless something else is there."""
    for folder in folders:
        with suppress(OSError):
            folder.rmdir()


DATA_DIR_FLAG: ContextVar[str] = ContextVar("DATA_DIR_FLAG", default="--data_dir")
"""The option naming the data directory in a missing-data message: ``--data_dir`` at every front door (fit's short
flag), ``--data.data_dir`` where a command has no short flags (pretrain sets it with :func:`naming_data_dir_flag`)."""


@contextmanager
def naming_data_dir_flag(flag: str) -> Iterator[None]:
    """Within this block a missing-data message tells the user to pass ``flag``."""
    token = DATA_DIR_FLAG.set(flag)
    try:
        yield
    finally:
        DATA_DIR_FLAG.reset(token)


def data_dir_from_environment() -> Path | None:
    """``$LIGHTNING_SEQ_DATA`` as an absolute path; a relative value is read from the working directory of its
    first use here, so that a later change of directory does not lose the data."""
    configured = os.environ.get(DATA_ENV)
    return _absolute(configured) if configured else None


@functools.cache
def _absolute(configured: str) -> Path:
    return Path(configured).expanduser().absolute()


def _missing_message(spec: RemoteFile, directory: Path, reason: str) -> str:
    configured = os.environ.get(DATA_ENV, "")
    relative = (
        f" (${DATA_ENV}={configured} is relative to the working directory; set it to an absolute path)"
        if configured and not Path(configured).expanduser().is_absolute() and directory == data_dir_from_environment()
        else ""
    )
    return (
        f"{spec.name} is not in {directory}{relative} and {reason}. On a machine with internet access download "
        f"{spec.url} ({spec.algorithm} {spec.digest}) and put it in {directory}, or point the environment "
        f"variable {DATA_ENV} (or {DATA_DIR_FLAG.get()}) at a directory that already holds it."
    )


def same_file(a: str | Path, b: str | Path) -> bool:
    """The same file by name, by symbolic link or by hard link: an output that must not overwrite an input."""
    a, b = Path(a), Path(b)
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:  # a loop of links, or a path that cannot be looked at: not provably the same
        return False
