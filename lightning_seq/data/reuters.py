"""The Reuters newswire topics dataset as Keras distributes it.

``reuters.npz`` is verified, unpickled once, and cached as plain arrays that load with
``allow_pickle=False``; later runs never unpickle anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import platformdirs

from lightning_seq.data.files import RemoteFile, atomic_write, data_dir_from_environment, read_verified
from lightning_seq.data.sequences import INDEX_FROM, Ragged

CACHE_ENV = "LIGHTNING_SEQ_CACHE"
_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# The hashes Keras pins in keras/src/datasets/reuters.py.
NPZ = RemoteFile(
    "reuters.npz", _ORIGIN + "reuters.npz", "sha256", "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
)
WORD_INDEX = RemoteFile(
    "reuters_word_index.json", _ORIGIN + "reuters_word_index.json", "md5", "4d44cc38712099c9e383dc6e5f11a921"
)

# Facts of the hash-pinned file.
NUM_ITEMS = 11_228
MAX_RAW_ID = 30_979
FULL_VOCAB_SIZE = MAX_RAW_ID + INDEX_FROM + 1
# Label names 0..45, as keras.datasets.reuters.get_label_names() gives them.
# fmt: off
TOPICS: tuple[str, ...] = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog",
    "lead",
)
# fmt: on
NUM_CLASSES = len(TOPICS)


def _user_cache_root() -> Path:
    """The platform's user cache: ``~/.cache/lightning_seq`` on Linux (``$XDG_CACHE_HOME``), ``~/Library/Caches``
    on macOS, ``%LOCALAPPDATA%`` on Windows."""
    return Path(platformdirs.user_cache_dir("lightning_seq", appauthor=False))


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """Where the raw files live: the argument, else ``$LIGHTNING_SEQ_DATA`` (made absolute at its first use), else
    the user cache."""
    if data_dir:
        return Path(data_dir).expanduser()
    return data_dir_from_environment() or _user_cache_root() / "data"


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Where the pickle-free cache goes: the argument, else ``$LIGHTNING_SEQ_CACHE``, else the user cache.

    Kept apart from the data directory, which may be a read-only shared copy.
    """
    chosen = cache_dir or os.environ.get(CACHE_ENV)
    return Path(chosen).expanduser() if chosen else _user_cache_root()


def load_raw(data_dir: str | Path | None = None, cache_dir: str | Path | None = None, download: bool = True) -> Ragged:
    """All 11,228 newswires in file order, with raw ids (1 = "the", no start token)."""
    cache = resolve_cache_dir(cache_dir) / f"reuters-{NPZ.digest[:16]}.npz"
    try:
        return _read_cache(cache)
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, EOFError, OSError, zipfile.BadZipFile) as error:
        warnings.warn(f"Ignoring the corrupted cache {cache} ({error}); rebuilding it from {NPZ.name}.", stacklevel=2)
    raw = _unpickle_verified(read_verified(NPZ, resolve_data_dir(data_dir), download))
    try:
        _write_cache(cache, raw)
    except OSError as error:  # the cache only saves time; a read-only home must not stop a run whose data is fine
        warnings.warn(
            f"Cannot write the cache {cache} ({error.strerror or error}); continuing without it, so {NPZ.name} is "
            f"verified and decoded on every run. Set {CACHE_ENV} or --data.cache_dir to a writable directory.",
            stacklevel=2,
        )
    return raw


def load_word_index(data_dir: str | Path | None = None, download: bool = True) -> dict[str, int]:
    """Keras's word -> raw id map (a word's id in encoded sequences is this value + 3)."""
    return json.loads(read_verified(WORD_INDEX, resolve_data_dir(data_dir), download))


def _unpickle_verified(payload: bytes) -> Ragged:
    """Only called on bytes whose hash matched: the file stores lists of ints as pickled objects."""
    with np.load(io.BytesIO(payload), allow_pickle=True) as archive:
        return Ragged.from_lists(list(archive["x"]), archive["y"])


def _content_digest(raw: Ragged) -> str:
    hasher = hashlib.sha256()
    for array in (raw.tokens, raw.offsets, raw.labels):
        hasher.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return hasher.hexdigest()


def _write_cache(path: Path, raw: Ragged) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        tokens=raw.tokens.astype(np.int32),
        offsets=raw.offsets,
        labels=raw.labels,
        digest=np.array(_content_digest(raw)),
    )
    atomic_write(path, buffer.getvalue())


def _read_cache(path: Path) -> Ragged:
    with np.load(path, allow_pickle=False) as archive:
        raw = Ragged(archive["tokens"].astype(np.int64), archive["offsets"], archive["labels"])
        expected = str(archive["digest"])
    if len(raw) != NUM_ITEMS or _content_digest(raw) != expected:
        raise ValueError("its contents do not match the checksum stored with them")
    return raw
