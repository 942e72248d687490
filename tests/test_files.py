"""Download, hash verification and the pickle-free cache, on the real files."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from lightning_seq.data import files, reuters
from lightning_seq.data.files import DataIntegrityError, DataUnavailableError


class _MakesDirectoryWhenUnpickled:
    """Stands for a malicious payload: unpickling it calls ``os.mkdir(path)``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return os.mkdir, (str(self.path),)


def _booby_trapped_npz(sentinel: Path) -> bytes:
    buffer = io.BytesIO()
    x = np.empty(1, dtype=object)
    x[0] = _MakesDirectoryWhenUnpickled(sentinel)
    np.savez(buffer, x=x, y=np.zeros(1, dtype=np.int64))
    return buffer.getvalue()


def test_payload_would_run_if_unpickled(tmp_path: Path) -> None:
    """Guards the next test: the trap really fires when the file is unpickled."""
    sentinel = tmp_path / "unpickled"
    with np.load(io.BytesIO(_booby_trapped_npz(sentinel)), allow_pickle=True) as archive:
        archive["x"]
    assert sentinel.is_dir()


def test_hash_mismatch_is_refused_before_unpickling(tmp_path: Path) -> None:
    sentinel = tmp_path / "unpickled"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "reuters.npz").write_bytes(_booby_trapped_npz(sentinel))

    with pytest.raises(DataIntegrityError) as caught:
        reuters.load_raw(data_dir, cache_dir=tmp_path / "cache", download=False)

    message = str(caught.value)
    assert str(data_dir / "reuters.npz") in message
    assert reuters.NPZ.digest in message  # expected
    actual = hashlib.sha256((data_dir / "reuters.npz").read_bytes()).hexdigest()
    assert actual in message
    assert not sentinel.exists(), "the file was unpickled although its hash did not match"
    assert not (tmp_path / "cache").exists(), "nothing may be cached from a rejected file"


def test_truncated_real_file_is_refused(tmp_path: Path, real_data_dir: Path) -> None:
    (tmp_path / "reuters.npz").write_bytes((real_data_dir / "reuters.npz").read_bytes()[:100_000])
    with pytest.raises(DataIntegrityError, match="expected sha256 d6586e69"):
        reuters.load_raw(tmp_path, cache_dir=tmp_path / "cache", download=False)


def test_missing_file_offline_says_what_to_download_and_where(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailableError) as caught:
        reuters.load_raw(tmp_path, cache_dir=tmp_path / "cache", download=False)
    message = str(caught.value)
    assert reuters.NPZ.url in message
    assert str(tmp_path) in message
    assert "LIGHTNING_SEQ_DATA" in message


def test_failed_download_is_a_clear_error(tmp_path: Path) -> None:
    unreachable = dataclasses.replace(reuters.NPZ, url=(tmp_path / "nowhere" / "reuters.npz").as_uri())
    with pytest.raises(DataUnavailableError, match="the download failed"):
        files.read_verified(unreachable, tmp_path / "data")
    assert not (tmp_path / "data" / "reuters.npz").exists()


def test_download_verifies_and_stores(tmp_path: Path, real_data_dir: Path) -> None:
    """A file:// mirror stands in for the public origin (no network here)."""
    mirror = dataclasses.replace(reuters.NPZ, url=(real_data_dir / "reuters.npz").as_uri())
    payload = files.read_verified(mirror, tmp_path / "data")
    assert (tmp_path / "data" / "reuters.npz").read_bytes() == payload
    assert len(payload) == 2_110_848


def test_download_with_wrong_hash_leaves_nothing_behind(tmp_path: Path, real_data_dir: Path) -> None:
    wrong = dataclasses.replace(reuters.NPZ, url=(real_data_dir / "reuters_word_index.json").as_uri())
    with pytest.raises(DataIntegrityError):
        files.read_verified(wrong, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cache_serves_later_loads_without_the_raw_file_or_pickle(tmp_path: Path, real_data_dir: Path) -> None:
    first = reuters.load_raw(real_data_dir, cache_dir=tmp_path, download=False)
    (cache_file,) = tmp_path.glob("reuters-*.npz")
    with np.load(cache_file, allow_pickle=False) as archive:  # raises if anything in it needs pickle
        assert set(archive.files) == {"tokens", "offsets", "labels", "digest"}

    again = reuters.load_raw(tmp_path / "empty", cache_dir=tmp_path, download=False)  # no raw file there
    np.testing.assert_array_equal(first.tokens, again.tokens)
    np.testing.assert_array_equal(first.labels, again.labels)


def test_corrupted_cache_is_rebuilt_from_the_verified_file(tmp_path: Path, real_data_dir: Path) -> None:
    good = reuters.load_raw(real_data_dir, cache_dir=tmp_path, download=False)
    (cache_file,) = tmp_path.glob("reuters-*.npz")
    with np.load(cache_file) as archive:
        arrays = dict(archive)
    arrays["tokens"][1000] += 1  # a silent bit flip the zip container would not notice
    np.savez(cache_file, **arrays)

    with pytest.warns(UserWarning, match="corrupted cache"):
        rebuilt = reuters.load_raw(real_data_dir, cache_dir=tmp_path, download=False)
    np.testing.assert_array_equal(rebuilt.tokens, good.tokens)

    cache_file.write_bytes(b"not a zip at all")
    with pytest.warns(UserWarning, match="corrupted cache"):
        reuters.load_raw(real_data_dir, cache_dir=tmp_path, download=False)


def test_unwritable_cache_falls_back_with_a_warning(tmp_path: Path, real_data_dir: Path) -> None:
    """The cache only saves time: a cache directory that cannot be created must not stop a run whose data is fine."""
    blocker = tmp_path / "a-file"
    blocker.write_text("where the cache directory should be")
    with pytest.warns(UserWarning, match=r"Cannot write the cache .*a-file/cache/reuters-.*; continuing without it"):
        raw = reuters.load_raw(real_data_dir, cache_dir=blocker / "cache", download=False)
    assert len(raw) == reuters.NUM_ITEMS


def test_word_index_is_verified(tmp_path: Path, real_data_dir: Path) -> None:
    assert len(reuters.load_word_index(real_data_dir, download=False)) == 30_979
    shutil.copy(real_data_dir / "reuters_word_index.json", tmp_path)
    with open(tmp_path / "reuters_word_index.json", "a") as handle:
        handle.write(" ")
    with pytest.raises(DataIntegrityError, match="md5 4d44cc38712099c9e383dc6e5f11a921"):
        reuters.load_word_index(tmp_path, download=False)
