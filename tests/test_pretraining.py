"""Language-model pretraining: no peeking at the word to predict, the encoder carried into a classifier, and
ULMFiT's discriminative rates and gradual unfreezing; the README's two commands on the real data."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.optim.lr_scheduler import OneCycleLR

from lightning_seq.cli.lightning_cli import fit_main, main
from lightning_seq.cli.pretrain import main as pretrain_main
from lightning_seq.data.batching import Batch
from lightning_seq.errors import BadCheckpoint, BadValue
from lightning_seq.nn.classifier import RecurrentClassifier
from lightning_seq.training.optimization import (
    discriminative_groups,
    layer_groups,
    optimizer_and_schedule,
    unfreeze_top_groups,
)
from lightning_seq.training.pretraining import LanguageModel, load_pretrained_encoder
from tests.conftest import CONFIGS

VOCAB = 40


def random_batch(rows: int, width: int, generator: torch.Generator) -> Batch:
    lengths = torch.randint(2, width + 1, (rows,), generator=generator)
    tokens = torch.randint(3, VOCAB, (rows, width), generator=generator)
    tokens[torch.arange(width).unsqueeze(0) >= lengths.unsqueeze(1)] = 0
    return Batch(tokens, lengths, torch.zeros(rows, dtype=torch.long))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_random_words_stay_unpredictable_so_no_direction_reads_its_target(bidirectional: bool) -> None:
    """Uniformly random words carry nothing to learn: a model that could see the word it predicts would drive
    the loss far below log(vocabulary) within these steps; one that cannot stays near it."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = LanguageModel(VOCAB, "gru", 16, 32, bidirectional=bidirectional, dropout=0.0, cutoffs=[10])
    model.embedding_dropout.p = 0.0
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        total, count = model.log_likelihood(random_batch(32, 12, generator))
        optimizer.zero_grad()
        (total / count).backward()
        optimizer.step()
    with torch.no_grad():
        total, count = model.log_likelihood(random_batch(256, 12, generator))
    assert float(total / count) > 0.9 * math.log(VOCAB - 3)


def test_padding_does_not_change_the_likelihood() -> None:
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, "lstm", 8, 16, bidirectional=True, cutoffs=[10, 20]).eval()
    batch = random_batch(5, 7, torch.Generator().manual_seed(1))
    wider = Batch(torch.nn.functional.pad(batch.tokens, (0, 6)), batch.lengths, batch.labels)
    with torch.no_grad():
        total, count = model.log_likelihood(batch)
        assert count == 2 * int((batch.lengths - 1).sum())  # every word but the first (next) or last (previous)
        torch.testing.assert_close(model.log_likelihood(wider)[0], total)


def test_settings_that_would_leak_or_cannot_work_are_refused_in_one_line() -> None:
    with pytest.raises(BadValue, match="stacked bidirectional"):
        LanguageModel(VOCAB, num_layers=2, bidirectional=True, cutoffs=[10])
    with pytest.raises(BadValue, match=r"cutoffs \[30, 10\] must be positive, increasing"):
        LanguageModel(VOCAB, cutoffs=[30, 10])
    with pytest.raises(BadValue, match="below the vocabulary's 40 ids"):
        LanguageModel(VOCAB, cutoffs=[2000, 10000])
    with pytest.raises(BadValue, match="hidden_size 8 is too narrow for 2 cutoffs"):
        LanguageModel(VOCAB, hidden_size=8, cutoffs=[10, 20])


def save_language_model(model: LanguageModel, path: Path, vocabulary: str | None = None) -> Path:
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    checkpoint["vocabulary_sha1"] = vocabulary
    torch.save(checkpoint, path)
    return path


def test_the_encoder_moves_into_a_classifier_and_a_mismatch_is_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, "gru", 8, 6, bidirectional=True, cutoffs=[10])
    path = save_language_model(model, tmp_path / "encoder.ckpt")
    settings = {"vocab_size": VOCAB, "cell": "gru", "embedding_dim": 8, "hidden_size": 6, "num_layers": 1}
    settings["bidirectional"] = True
    net = RecurrentClassifier(VOCAB, 3, "gru", 8, 6, bidirectional=True, ngram_order=1)
    head = net.head.weight.clone()
    assert load_pretrained_encoder(net, str(path), settings, None) == 9  # the embedding and 4 tensors per direction
    torch.testing.assert_close(net.embedding.weight, model.embedding.weight)
    torch.testing.assert_close(net.encoder.rnn.weight_hh_l0_reverse, model.encoder.rnn.weight_hh_l0_reverse)
    torch.testing.assert_close(net.head.weight, head)  # the head starts from scratch
    with pytest.raises(BadCheckpoint, match="has hidden_size=6, but this model has hidden_size=7"):
        load_pretrained_encoder(net, str(path), {**settings, "hidden_size": 7}, None)
    other = save_language_model(model, tmp_path / "other.ckpt", vocabulary="not this one")
    with pytest.raises(BadCheckpoint, match="another vocabulary"):
        load_pretrained_encoder(net, str(other), settings, {"the": 3})
    classifier = tmp_path / "classifier.ckpt"
    torch.save({"state_dict": net.state_dict(), "hyper_parameters": settings}, classifier)
    with pytest.raises(BadCheckpoint, match="not a language model's checkpoint"):
        load_pretrained_encoder(net, str(classifier), settings, None)


def test_layer_groups_hold_every_parameter_once_from_the_head_down() -> None:
    net = RecurrentClassifier(VOCAB, 3, "lstm", 8, 6, num_layers=2, bidirectional=True, pooling="attention")
    groups = layer_groups(net)
    assert sorted(id(weight) for group in groups for weight in group) == sorted(id(w) for w in net.parameters())
    assert groups[-1] == [net.embedding.weight]
    assert any(weight is net.encoder.rnn.weight_ih_l1_reverse for weight in groups[1])
    assert any(weight is net.encoder.rnn.weight_ih_l0 for weight in groups[2])
    assert any(weight is net.head.weight for weight in groups[0])


def test_discriminative_rates_hold_under_a_one_cycle_schedule() -> None:
    net = RecurrentClassifier(VOCAB, 3, "gru", 8, 6)

    def one_cycle(optimizer: torch.optim.Optimizer, **settings: object) -> OneCycleLR:
        return OneCycleLR(optimizer, **{**one_cycle.keywords, **settings})

    one_cycle.keywords = {"max_lr": 0.08, "total_steps": 10}  # what the CLI's callable carries
    built = optimizer_and_schedule(None, torch.optim.AdamW, one_cycle, discriminative_groups(net, 2.0))
    optimizer, scheduler = built["optimizer"], built["lr_scheduler"]["scheduler"]
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    rates = [group["lr"] for group in optimizer.param_groups]
    assert rates == pytest.approx([rates[0], rates[0] / 2, rates[0] / 4])  # head, GRU layer, embedding
    assert rates[0] > 0.04  # near the peak: each group's own max_lr, not the plain one divided down


def test_gradual_unfreezing_adds_one_group_per_period_and_keeps_frozen_vectors_frozen() -> None:
    net = RecurrentClassifier(VOCAB, 3, "gru", 8, 6, num_layers=2)
    trainable = [unfreeze_top_groups(net, epoch, every=2, keep_frozen={id(net.embedding.weight)}) for epoch in range(8)]
    assert trainable == [1, 1, 2, 2, 3, 3, 4, 4]
    assert net.head.weight.requires_grad and net.encoder.rnn.weight_ih_l0.requires_grad
    assert not net.embedding.weight.requires_grad
    unfreeze_top_groups(net, 0, every=1, keep_frozen=set())
    assert net.head.weight.requires_grad and not net.encoder.rnn.weight_ih_l1.requires_grad


def test_the_readme_commands_pretrain_then_fit_from_the_encoder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``scripts/pretrain.py --config configs/pretrain/fast.yaml`` then ``scripts/fit.py --config configs/fast.yaml
    --model.encoder_checkpoint ...`` on the real data, with a few batches."""
    quick = ["--trainer.limit_train_batches", "4", "--trainer.limit_val_batches", "2", "--trainer.max_epochs", "2"]
    quick += ["--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path)]
    encoder = Path(pretrain_main(["--config", str(CONFIGS / "pretrain" / "fast.yaml"), *quick]))
    assert encoder == tmp_path / "lightning_logs" / "pretrain-fast" / "version_0" / "checkpoints" / "encoder.ckpt"
    fit_main(
        ["--config", str(CONFIGS / "fast.yaml"), *quick, "--model.encoder_checkpoint", str(encoder),
         "--model.layer_lr_decay", "2.6", "--model.unfreeze_every", "1", "--trainer.limit_test_batches", "2"]
    )  # fmt: skip
    # Epoch 1 trained the head alone, epoch 2 the GRU too: the word vectors are still the language model's.
    fitted = torch.load(
        tmp_path / "lightning_logs" / "fast" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True
    )
    pretrained = torch.load(encoder, weights_only=True)["state_dict"]
    torch.testing.assert_close(fitted["state_dict"]["net.embedding.weight"], pretrained["embedding.weight"])
    assert not torch.equal(fitted["state_dict"]["net.encoder.rnn.weight_hh_l0"], pretrained["encoder.rnn.weight_hh_l0"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:  # best.yaml's encoder is larger: one line, exit 2
        main(["--config", str(CONFIGS / "best.yaml"), *quick, "--model.encoder_checkpoint", str(encoder)])
    assert exit_info.value.code == 2
    assert "has embedding_dim=48, hidden_size=84, but this model has embedding_dim=219" in capsys.readouterr().err


def test_gradual_unfreezing_under_plain_ddp_is_refused_before_anything_runs(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(CONFIGS / "fast.yaml"), "--model.unfreeze_every", "1", "--strategy", "ddp"])
    assert exit_info.value.code == 2
    assert "use --strategy ddp_find_unused_parameters_true" in capsys.readouterr().err
