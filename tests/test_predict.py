"""Raw text -> the dataset's token ids, and topics from a checkpoint (library and scripts/predict.py)."""

from __future__ import annotations

import codecs
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_seq.cli.predict import main
from lightning_seq.data import reuters
from lightning_seq.data.sequences import Ragged, keras_encode, pad_sequences
from lightning_seq.data.tokenizer import WordTokenizer, split_words
from lightning_seq.inference.loading import load_datamodule
from lightning_seq.inference.predictor import TopicPredictor, predict_topics

from .conftest import REPO_ROOT

GRAIN = (
    "Egypt's state grain buyer GASC bought 200,000 tonnes of U.S. soft red winter wheat for shipment "
    "in May under the export enhancement program, U.S. exporters said."
)
ACQUISITION = (
    "Midland Bancorp said it agreed to acquire First Valley Corp for 25 dlrs a share in cash, or about "
    "120 mln dlrs, subject to approval by shareholders and regulators."
)


@pytest.fixture(scope="module")
def word_index(real_data_dir: Path) -> dict[str, int]:
    return reuters.load_word_index(real_data_dir)


@pytest.fixture(scope="module")
def predictor(gru_checkpoint: Path) -> TopicPredictor:
    return TopicPredictor.from_checkpoint(gru_checkpoint)


def test_words_are_split_as_keras_did() -> None:
    assert split_words("U.S. grain exports rose 3.5 pct to 1,000 tonnes, India's (a) \u2018record\u2019!") == [
        "u", "s", "grain", "exports", "rose", "3", "5", "pct", "to", "1", "000", "tonnes", "india's", "a", "'record'",
    ]  # fmt: skip
    assert split_words(" \t,.;!\n") == []


@pytest.mark.parametrize("num_words, skip_top", [(10000, 0), (None, 0), (2000, 20)])
def test_text_encodes_like_the_dataset(
    real_data_dir: Path, cache_dir: Path, word_index: dict, num_words: int | None, skip_top: int
) -> None:
    """Every test newswire, written out as words and encoded as text, gets exactly the dataset's ids."""
    raw = reuters.load_raw(real_data_dir, cache_dir)
    _, words_test = keras_encode(raw)  # the full vocabulary: every id is a real word
    _, expected = keras_encode(raw, num_words, skip_top)
    rank_to_word = {rank: word for word, rank in word_index.items()}
    encoder = WordTokenizer(word_index, num_words or reuters.FULL_VOCAB_SIZE, skip_top)
    for item in range(len(words_test)):
        text = " ".join(rank_to_word[int(token) - 3] for token in words_test.sequence(item)[1:])
        np.testing.assert_array_equal(encoder.encode(text).ids, expected.sequence(item), err_msg=f"item {item}")


def test_known_sentence_ids_and_unknown_words(word_index: dict) -> None:
    encoded = WordTokenizer(word_index, 10000).encode("The U.S. said wheat exports rose, Zzyzx said.")
    said, wheat = word_index["said"] + 3, word_index["wheat"] + 3
    assert said == 8  # "said" is the 5th most frequent word
    assert encoded.words == ("the", "u", "s", "said", "wheat", "exports", "rose", "zzyzx", "said")
    assert encoded.ids.tolist()[:5] == [1, 4, word_index["u"] + 3, word_index["s"] + 3, said]
    assert encoded.ids.tolist()[5] == wheat and encoded.ids.tolist()[-2:] == [2, said]  # unknown -> OOV 2
    assert encoded.unknown == ("zzyzx",) and encoded.known == 8
    rare = max(word_index, key=word_index.get)  # the rarest word is beyond num_words=10000
    assert WordTokenizer(word_index, 10000).encode(rare).unknown == (rare,)
    assert WordTokenizer(word_index, reuters.FULL_VOCAB_SIZE).encode(rare).unknown == ()


def test_predictions_equal_the_model_on_the_padded_encoding(predictor: TopicPredictor) -> None:
    predictions = predictor.predict([GRAIN, ACQUISITION], top_k=5)
    assert [len(p.topics) for p in predictions] == [5, 5]
    encoded = predictor.encode([GRAIN, ACQUISITION])
    # The training data's layout: every text cut to maxlen 200, tokens first, padding after.
    ids, lengths = pad_sequences(Ragged.from_lists([e.ids.tolist() for e in encoded], np.zeros(2)), 200, "post")
    with torch.no_grad():
        expected = predictor.model(torch.from_numpy(ids), torch.from_numpy(lengths)).softmax(-1).topk(5)
    for prediction, values, indices in zip(predictions, expected.values, expected.indices, strict=True):
        assert [name for name, _ in prediction.topics] == [reuters.TOPICS[i] for i in indices]
        assert [p for _, p in prediction.topics] == pytest.approx(values.tolist(), abs=1e-6)
        assert prediction.words == len(split_words(prediction.text)) and prediction.truncated_tokens == 0


def test_long_text_is_cut_as_in_training(predictor: TopicPredictor) -> None:
    long_text = " ".join([ACQUISITION] * 12)  # 12 x 27 words + start > maxlen 200
    ids = predictor.encode([long_text])[0].ids
    (prediction,) = predictor.predict(long_text, top_k=46)
    assert prediction.truncated_tokens == len(ids) - 200 > 0
    with torch.no_grad():  # Keras's truncating='pre' keeps the last 200 tokens
        expected = predictor.model(torch.from_numpy(ids[-200:]).unsqueeze(0), torch.tensor([200])).softmax(-1)[0]
    assert dict(prediction.topics) == pytest.approx(dict(zip(reuters.TOPICS, expected.tolist(), strict=True)))


def test_empty_and_unknown_texts_are_refused_by_number(predictor: TopicPredictor) -> None:
    with pytest.raises(ValueError) as error:
        predictor.predict([GRAIN, "", "  ?!, ", "qwxz blorptang", ACQUISITION])
    message = str(error.value)
    assert "text 2: empty text ''" in message and "text 3: empty text '  ?!, '" in message
    assert "text 4: none of its words ['qwxz', 'blorptang'] is in the model's vocabulary" in message
    assert "text 1" not in message and "text 5" not in message
    with pytest.raises(ValueError, match=r"top_k must be in \[1, 46\], got 0"):
        predictor.predict(GRAIN, top_k=0)
    with pytest.raises(ValueError, match="no texts given"):
        predictor.predict([])


def test_library_function_and_checkpoint_data_settings(gru_checkpoint: Path) -> None:
    (prediction,) = predict_topics(gru_checkpoint, GRAIN, top_k=2)
    assert prediction.topics[0][1] >= prediction.topics[1][1] and prediction.topics[0][0] in reuters.TOPICS
    settings = load_datamodule(gru_checkpoint).hparams
    assert (settings.num_words, settings.maxlen, settings.truncating) == (10000, 200, "pre")


def test_script_text_json_file_and_stdin(
    gru_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = ["--ckpt", str(gru_checkpoint)]
    main([*ckpt, "--text", GRAIN, "--text", ACQUISITION, "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == [GRAIN, ACQUISITION]
    assert all(len(line["topics"]) == 3 and set(line["topics"][0]) == {"topic", "probability"} for line in lines)

    texts = tmp_path / "wires.txt"
    texts.write_text(f"{GRAIN}\n{ACQUISITION}\n")
    main([*ckpt, "--file", str(texts), "--top_k", "1"])
    printed = capsys.readouterr().out
    assert printed.startswith("[1] \"Egypt's state grain buyer") and "[2] 'Midland Bancorp" in printed
    assert "1 unknown: gasc" in printed  # the buyer's acronym is not in the Reuters index

    monkeypatch.setattr("sys.stdin", io.StringIO(ACQUISITION + "\n"))
    assert len(main(ckpt)) == 1

    with pytest.raises(SystemExit) as exit_:
        main([*ckpt, "--text", "   "])
    assert exit_.value.code == 2 and "text 1: empty text" in capsys.readouterr().err


def test_text_files_as_editors_save_them(
    gru_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte-order mark, CRLF line ends, UTF-16, blank lines: the same predictions as a plain UTF-8 file."""
    ckpt = ["--ckpt", str(gru_checkpoint), "--json"]
    plain = tmp_path / "plain.txt"
    plain.write_text(f"{GRAIN}\n{ACQUISITION}\n", encoding="utf-8")
    main([*ckpt, "--file", str(plain)])
    expected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["number"] for line in expected] == [1, 2]

    saved = {
        "bom-crlf.txt": codecs.BOM_UTF8 + f"{GRAIN}\r\n{ACQUISITION}\r\n".encode(),
        "utf16.txt": f"{GRAIN}\r\n{ACQUISITION}\r\n".encode("utf-16"),  # Notepad's "Unicode", BOM first
    }
    for name, payload in saved.items():
        (tmp_path / name).write_bytes(payload)
        main([*ckpt, "--file", str(tmp_path / name)])
        assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == expected, name

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(saved["bom-crlf.txt"])))
    main(ckpt)
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == expected

    blanks = tmp_path / "blanks.txt"
    blanks.write_text(f"\n{GRAIN}\n  \n\n{ACQUISITION}\n", encoding="utf-8")
    main([*ckpt, "--file", str(blanks)])
    printed = capsys.readouterr()
    lines = [json.loads(line) for line in printed.out.splitlines()]
    assert [line["number"] for line in lines] == [2, 5] and [line["topics"] for line in lines] == [
        line["topics"] for line in expected
    ]
    assert f"Skipped 3 blank line(s) of {blanks}: 1, 3, 4" in printed.err


def test_undecodable_file_and_closed_stdin_are_named_in_one_line(
    gru_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Caf\u00e9 prices rose\nWheat exports fell\n".encode("latin-1"))
    with pytest.raises(SystemExit) as exit_:
        main(["--ckpt", str(gru_checkpoint), "--file", str(latin)])
    (message,) = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2
    assert message.startswith(f"error: {latin} is not utf-8 text: byte 3 (line 1) is b'\\xe9'; save it as UTF-8")

    script = [sys.executable, str(REPO_ROOT / "scripts" / "predict.py"), "--ckpt", str(gru_checkpoint)]
    result = subprocess.run(script, capture_output=True, text=True, preexec_fn=lambda: os.close(0))  # stdin closed
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: no input: give --text TEXT, --file FILE")


def test_several_checkpoints_predict_as_an_ensemble_of_averaged_probabilities(gru_checkpoint: Path) -> None:
    last = gru_checkpoint.parent / "last.ckpt"
    members = [main(["--ckpt", str(path), "--text", GRAIN, "--top_k", "46"])[0] for path in (gru_checkpoint, last)]
    (ensemble,) = main(["--ckpt", str(gru_checkpoint), "--ckpt", str(last), "--text", GRAIN, "--top_k", "46"])
    averaged = {
        name: (dict(members[0].topics)[name] + dict(members[1].topics)[name]) / 2 for name in dict(ensemble.topics)
    }
    assert dict(ensemble.topics) == pytest.approx(averaged, abs=1e-6)
    assert ensemble.labels[0][0] == max(averaged, key=averaged.get)
