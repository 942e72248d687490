"""Fetch and verify data files.

Bytes are hashed before anything parses or unpickles them, and the bytes that were hashed
are the ones that get loaded: ``reuters.npz`` holds pickled objects, so an unverified copy
could run arbitrary code when loaded. The dataset files are small (a few MB), so they are
held in memory whole.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "LIGHTNING_SEQ_DATA"


class DataIntegrityError(RuntimeError):
    """A data file exists but its hash is not the published one."""


class DataUnavailableError(FileNotFoundError):
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
    """Write through a temporary file so that a crash never leaves a half-written ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        try:
            tmp.write(payload)
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.chmod(tmp.name, 0o644)  # temporary files are created private; the result is an ordinary file
    os.replace(tmp.name, path)


def _missing_message(spec: RemoteFile, directory: Path, reason: str) -> str:
    return (
        f"{spec.name} is not in {directory} and {reason}. On a machine with internet access download "
        f"{spec.url} ({spec.algorithm} {spec.digest}) and put it in {directory}, or point the environment "
        f"variable {DATA_ENV} (or --data.data_dir) at a directory that already holds it."
    )
