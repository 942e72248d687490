"""``export --out`` that would destroy the checkpoint, name the wrong format or a directory, or meet a full disk:
one line, exit status 2, the checkpoint and any earlier export untouched, no partial model left."""

from __future__ import annotations

import os
import resource
import signal
import sys
from pathlib import Path

import pytest

from lightning_seq.cli import export

from .helpers.tiny_text_run import digest, fit_tiny_run, run_script

pytest.importorskip("onnxruntime", reason="install the export extra: pip install -e '.[export]'")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_tiny_run(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def ckpt(checkpoint: Path, tmp_path: Path) -> Path:
    """A private copy, so that each test may link to it."""
    copy = tmp_path / "model.ckpt"
    copy.write_bytes(checkpoint.read_bytes())
    return copy


def refused(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """``export.main(argv)``'s one-line message; it must exit with status 2."""
    with pytest.raises(SystemExit) as exit_:
        export.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1, err
    return err[0]


def test_an_out_that_is_the_checkpoint_by_a_link_is_refused(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = digest(ckpt)
    hard = tmp_path / "hard.onnx"
    os.link(ckpt, hard)
    message = refused(["--ckpt", str(ckpt), "--out", str(hard)], capsys)
    assert message == (
        f"error: --out {hard} is a checkpoint itself ({ckpt}, the same file): exporting would overwrite it; "
        "give another --out"
    )
    sidecars = {"side-hard.onnx.json": os.link, "side-soft.onnx.json": os.symlink}
    for name, link in sidecars.items():
        link(ckpt, tmp_path / name)
        out = tmp_path / name.removesuffix(".json")
        message = refused(["--ckpt", str(ckpt), "--out", str(out)], capsys)
        assert message.startswith(f"error: --out {out}: its sidecar {out}.json is a checkpoint itself ({ckpt}")
    named = tmp_path / "m.onnx.json"  # the checkpoint itself is called like the sidecar
    named.write_bytes(ckpt.read_bytes())
    message = refused(["--ckpt", str(named), "--out", str(tmp_path / "m.onnx")], capsys)
    assert "its sidecar" in message and digest(named) == before
    assert digest(ckpt) == before and not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    ("fmt", "name", "expected"),
    [
        ("onnx", "model.bin", "an ONNX model's file name ends in .onnx (the runners tell the format by it)"),
        ("torchscript", "model.onnx", "a TorchScript model's file name ends in .pt, .pth or .torchscript"),
        ("onnx", "model.pt", "give --out {dir}/model.onnx, or --format torchscript for a TorchScript file"),
    ],
)
def test_a_suffix_of_another_format_is_refused_before_any_work(
    fmt: str, name: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Refused before the checkpoint is even read (this one does not exist): the parity check used to fail later
    and call the checkpoint corrupted."""
    out = tmp_path / name
    message = refused(["--ckpt", str(tmp_path / "absent.ckpt"), "--format", fmt, "--out", str(out)], capsys)
    assert message.startswith(f"error: --out {out}: ") and expected.format(dir=tmp_path) in message
    assert list(tmp_path.iterdir()) == []


def test_torchscript_takes_pth_too(ckpt: Path, tmp_path: Path) -> None:
    out = export.main(["--ckpt", str(ckpt), "--format", "torchscript", "--out", str(tmp_path / "m.pth")])
    assert out.is_file() and (tmp_path / "m.pth.json").is_file()


def test_an_out_that_is_a_directory_is_refused(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    message = refused(["--ckpt", str(ckpt), "--out", str(folder)], capsys)
    assert message == f"error: --out {folder}: {folder} is a directory; give a file name, e.g. {folder}/model.onnx"
    (tmp_path / "m.onnx.json").mkdir()  # the sidecar's place
    message = refused(["--ckpt", str(ckpt), "--out", str(tmp_path / "m.onnx")], capsys)
    assert message.startswith(f"error: --out {tmp_path / 'm.onnx'}: {tmp_path / 'm.onnx.json'} is a directory")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["exports", "m.onnx.json", "model.ckpt"]


def _small_file_limit() -> None:
    """In the child: files may not grow past 4 KiB, and a write past it fails with EFBIG instead of a signal."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_full_disk_leaves_no_partial_model_and_the_earlier_export_intact(
    fmt: str, ckpt: Path, tmp_path: Path
) -> None:
    out = tmp_path / "exports" / f"model.{'onnx' if fmt == 'onnx' else 'pt'}"
    earlier = export.main(["--ckpt", str(ckpt), "--format", fmt, "--out", str(out), "--check_batches", "0"])
    model, contract = digest(earlier), digest(Path(f"{out}.json"))
    assert earlier.stat().st_size > 4096  # so the limit below cuts the new one short
    fresh = tmp_path / "new" / "deeper" / out.name
    for target in (out, fresh):
        result = run_script(
            "export.py", "--ckpt", str(ckpt), "--format", fmt, "--out", str(target), preexec_fn=_small_file_limit
        )
        assert result.returncode == 2, result.stderr[-2000:]
        assert result.stderr.strip().splitlines() == [
            f"error: cannot write {target}: the file grew past the size this system allows (ulimit -f, or the file "
            "system's limit); write elsewhere; nothing was written under that name"
        ]
    assert digest(out) == model and digest(Path(f"{out}.json")) == contract
    assert sorted(path.name for path in out.parent.iterdir()) == [out.name, f"{out.name}.json"]  # no temporaries
    assert not (tmp_path / "new").exists()  # nor the folders made for it


def test_a_model_that_fails_its_parity_check_is_not_left_behind(ckpt: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "m.onnx"
    with pytest.raises(SystemExit) as exit_:
        export.main(["--ckpt", str(ckpt), "--out", str(out), "--tolerance", "-1"])
    assert exit_.value.code == 1
    assert "differs from the checkpoint" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.ckpt"]


def test_an_export_leaves_exactly_the_model_and_its_sidecar(ckpt: Path, tmp_path: Path, capsys) -> None:
    out = export.main(["--ckpt", str(ckpt), "--out", str(tmp_path / "m.onnx")])
    printed = capsys.readouterr().out
    assert printed.index("Parity on") < printed.index(f"Exported {ckpt} -> {out}")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json", "model.ckpt"]
