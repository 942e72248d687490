"""The README's commands as a reader runs them: copied out of README.md and run by bash, in README order.

"Your own texts" must test, predict and export the run it just made, even beside the Reuters run of "Set up and
train" and when the reader runs the section a second time. The set-up's ``$LIGHTNING_SEQ_DATA`` is absolute, and a
relative one given to the README's test command still reaches every test and every subprocess.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightning_seq.data.files import DATA_ENV
from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
# Appended to each fit line of the fast variant: the same commands, a few batches each.
FAST = "--trainer.limit_train_batches 2 --trainer.limit_val_batches 2 --trainer.max_epochs 1"
TEST_WIRES = 2246


def bash_blocks(section: str) -> list[str]:
    """The ```bash blocks of one ``## section`` of the README."""
    text = README.read_text(encoding="utf-8")
    assert f"\n## {section}\n" in text, f"the README has no section {section!r}"
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", body, flags=re.S)


def command_lines(block: str) -> list[str]:
    """One line per command (continuations joined), without lines that are only comments."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def setup_commands() -> list[str]:
    """The section "Set up and train" without the installation: the data variable and the Reuters fit."""
    lines = command_lines(bash_blocks("Set up and train")[0])
    chosen = [line for line in lines if line.startswith(("export LIGHTNING_SEQ_DATA=", "python scripts/fit.py"))]
    assert len(chosen) == 2, lines
    return chosen


def own_texts_commands() -> list[str]:
    """The section "Your own texts" from writing the files to the export (the fits after it are further examples)."""
    lines = command_lines(bash_blocks("Your own texts")[0])
    last = next(number for number, line in enumerate(lines) if "scripts/export.py" in line)
    return lines[: last + 1]


def shortened(line: str) -> str:
    """A fit line with :data:`FAST` appended before its comment; other lines as written."""
    if "scripts/fit.py" not in line:
        return line
    command, _, comment = line.partition(" #")
    return f"{command.rstrip()} {FAST}" + (f"   #{comment}" if comment else "")


def reader_checkout(tmp_path: Path, real_data_dir: Path) -> Path:
    """A checkout's scripts and configs, with the data beside it as ``../shared/data`` (the README's layout)."""
    clone = tmp_path / "lightning_seq"
    shutil.copytree(REPO_ROOT / "scripts", clone / "scripts")
    shutil.copytree(REPO_ROOT / "configs", clone / "configs")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(real_data_dir, target_is_directory=True)
    return clone


def run_bash(lines: list[str], cwd: Path) -> dict[str, str]:
    """Run ``lines`` as one bash script (``python`` is this interpreter); returns the ``KEY=value`` lines it echoes."""
    script = "\n".join(["set -euo pipefail", *lines, 'echo "CKPT=$CKPT"', 'echo "DATA=$LIGHTNING_SEQ_DATA"'])
    env = {key: value for key, value in os.environ.items() if key != DATA_ENV}  # the README sets it
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if line.startswith(("CKPT=", "DATA=")))


def csv_run_checkpoint(clone: Path, echoed: dict[str, str], version: int) -> Path:
    """``$CKPT``, checked to be the best checkpoint of the CSV run ``version_<version>``."""
    ckpt = (clone / echoed["CKPT"]).resolve()
    run = clone / "lightning_logs" / "gru-csv" / f"version_{version}"
    assert ckpt.parent == (run / "checkpoints").resolve(), ckpt
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert saved["datamodule_hyper_parameters"]["train_file"] == "data/reuters-text/train.csv"
    return ckpt


def assert_used_the_csv_run(clone: Path, echoed: dict[str, str], version: int) -> None:
    """test, predict and export ran on the CSV run's checkpoint, not on the Reuters run's."""
    ckpt = csv_run_checkpoint(clone, echoed, version)
    run = clone / "lightning_logs" / "gru-csv" / f"version_{version}"
    assert (run / "evaluation" / ckpt.stem / "test_report.md").is_file(), "scripts/test.py reported elsewhere"
    assert ckpt.with_suffix(".onnx").is_file(), "scripts/export.py wrote its model elsewhere"
    reuters_run = clone / "lightning_logs" / "gru" / "version_0"
    assert not (reuters_run / "evaluation").exists()
    assert not list((reuters_run / "checkpoints").glob("*.onnx"))
    with (clone / "predictions.csv").open(newline="", encoding="utf-8") as file:
        assert sum(1 for _ in csv.DictReader(file)) == TEST_WIRES
    assert Path(echoed["DATA"]).is_absolute(), echoed["DATA"]


def test_readme_own_texts_walk_through_uses_its_own_run(tmp_path: Path, real_data_dir: Path) -> None:
    """The README's commands with a few batches per fit; then the section's fit and CKPT again: version_1's."""
    clone = reader_checkout(tmp_path, real_data_dir)
    setup = [shortened(line) for line in setup_commands()]
    own = [shortened(line) for line in own_texts_commands()]
    assert sum(FAST in line for line in own) == 1
    echoed = run_bash(setup + own, clone)
    assert list((clone / "lightning_logs" / "gru" / "version_0" / "checkpoints").glob("best-*.ckpt"))
    assert_used_the_csv_run(clone, echoed, version=0)
    again = [line for line in own if "scripts/fit.py" in line or line.startswith("CKPT=")]
    assert len(again) == 2, own
    echoed = run_bash(setup[:1] + again, clone)  # the reader runs the section a second time
    csv_run_checkpoint(clone, echoed, version=1)


@pytest.mark.slow
def test_readme_walk_through_as_written(tmp_path: Path, real_data_dir: Path) -> None:
    """The same commands exactly as the README writes them: gru.yaml's five epochs on the npz, then on the CSV."""
    clone = reader_checkout(tmp_path, real_data_dir)
    echoed = run_bash(setup_commands() + own_texts_commands(), clone)
    assert_used_the_csv_run(clone, echoed, version=0)


def test_readme_installs_the_cpu_torch_that_ci_pins() -> None:
    """The set-up installs torch from PyTorch's CPU index (PyPI's Linux wheel is the CUDA build), CI's version."""
    lines = command_lines(bash_blocks("Set up and train")[0])
    torch_lines = [line for line in lines if re.match(r"pip install torch==", line)]
    assert len(torch_lines) == 1, lines
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_lines[0]
    version = re.search(r"torch==(\S+)", torch_lines[0]).group(1)
    assert f"pip install --quiet torch=={version}\n" in (REPO_ROOT / ".ci" / "run").read_text()


def test_front_door_started_in_another_folder_finds_the_data(tmp_path: Path, real_data_dir: Path) -> None:
    """A subprocess in another folder reads the configured data (the README's test command runs such tests)."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, str(REPO_ROOT / "scripts" / "reuters_text.py"), "--out", "wires"]
    done = subprocess.run(
        [*command, "--formats", "fasttext", "--multi_label", "false"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert len((tmp_path / "wires" / "test.txt").read_text(encoding="utf-8").splitlines()) == TEST_WIRES


def test_readme_test_command_with_a_relative_data_variable(real_data_dir: Path) -> None:
    """``LIGHTNING_SEQ_DATA=../shared/data`` (relative, as the README once said) set for ``python -m pytest``:
    the tests made it absolute before any of them moved to another folder or started a subprocess there."""
    relative = os.path.relpath(real_data_dir, REPO_ROOT)
    assert not Path(relative).is_absolute()
    env = os.environ | {
        DATA_ENV: relative,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    test = "tests/test_readme.py::test_front_door_started_in_another_folder_finds_the_data"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 passed" in done.stdout


def offline_copy(checkpoint: Path, tmp_path: Path) -> Path:
    """``checkpoint`` recording no data folder and ``--data.download false``: missing data is reported, not fetched."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    saved["datamodule_hyper_parameters"] |= {"data_dir": None, "download": False}
    copy = tmp_path / "offline.ckpt"
    torch.save(saved, copy)
    return copy


def run_front_door(script: str, args: list[str], cwd: Path, data: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        DATA_ENV: data,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, str(REPO_ROOT / "scripts" / script), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_missing_data_names_predicts_flag_and_a_relative_variables_folder(gru_checkpoint: Path, tmp_path: Path) -> None:
    """predict takes ``--data_dir`` (not fit's ``--data.data_dir``); a relative variable is named with its folder."""
    (tmp_path / "empty").mkdir()
    done = run_front_door(
        "predict.py", ["--ckpt", str(offline_copy(gru_checkpoint, tmp_path)), "--text", "wheat"], tmp_path, "empty"
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: reuters_word_index.json is not in "), lines
    assert f"not in {tmp_path / 'empty'} ($LIGHTNING_SEQ_DATA=empty is relative" in lines[0]
    assert "(or --data_dir)" in lines[0] and "--data.data_dir" not in lines[0]


def test_missing_data_names_pretrains_flag(tmp_path: Path) -> None:
    """pretrain has no short flags: its message names ``--data.data_dir``."""
    (tmp_path / "empty").mkdir()
    args = ["--data.download", "false", "--data.data_dir", str(tmp_path / "empty")]
    done = run_front_door("pretrain.py", args, tmp_path, str(tmp_path / "elsewhere"))
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert re.match(rf"error: \S+ is not in {re.escape(str(tmp_path / 'empty'))} and downloading is switched off", last)
    assert "(or --data.data_dir)" in last and "is relative" not in last
