"""The plain-PyTorch classifier: shapes for every cell, padding invariance, clear errors."""

from __future__ import annotations

import pytest
import torch

from lightning_seq.nn.classifier import CELLS, RecurrentClassifier

VOCAB, CLASSES = 50, 46


def tiny(cell: str = "gru", **kwargs) -> RecurrentClassifier:
    torch.manual_seed(0)
    return RecurrentClassifier(VOCAB, CLASSES, cell, embedding_dim=8, hidden_size=6, **kwargs)


def batch(rows: list[list[int]], width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's input: each row's ids first, then 0-padding to ``width``, and the lengths."""
    width = width or max(map(len, rows))
    return torch.tensor([row + [0] * (width - len(row)) for row in rows]), torch.tensor([len(row) for row in rows])


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_every_cell_gives_one_logit_row_per_sequence(cell: str, bidirectional: bool, num_layers: int) -> None:
    model = tiny(cell, bidirectional=bidirectional, num_layers=num_layers, dropout=0.1)
    logits = model(*batch([[1, 5, 9, 3], [1, 7], [1, 4, 4, 4, 4, 8]], width=7))
    assert logits.shape == (3, CLASSES)
    logits.sum().backward()
    assert model.encoder.rnn.weight_hh_l0.grad is not None and model.encoder.rnn.weight_hh_l0.grad.abs().sum() > 0
    assert model.head.in_features == 6 * (2 if bidirectional else 1)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("strategy", ["pack", "mask"])
def test_logits_do_not_depend_on_padding(cell: str, bidirectional: bool, strategy: str) -> None:
    """One newswire alone, beside a much longer one, or in a batch wider than both: the same logits."""
    model = tiny(cell, bidirectional=bidirectional, num_layers=2, variable_length=strategy).eval()
    short, long = [1, 11, 12, 13], [1, *range(3, 40)]
    with torch.no_grad():
        alone = model(*batch([short]))
        beside = model(*batch([short, long]))[0]
        wide = model(*batch([short, long], width=60))[0]
    torch.testing.assert_close(beside, alone[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(wide, alone[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_pack_and_mask_compute_the_same_function(cell: str, bidirectional: bool, num_layers: int) -> None:
    """Same logits and same gradients: the strategy is a speed choice, never a modelling one."""
    packed = tiny(cell, bidirectional=bidirectional, num_layers=num_layers, variable_length="pack").eval()
    masked = tiny(cell, bidirectional=bidirectional, num_layers=num_layers, variable_length="mask").eval()
    masked.load_state_dict(packed.state_dict())
    inputs = batch([[1, 5, 9, 3, 7, 7, 2], [1, 7], [1, 4, 4, 4, 4, 8, 9, 10, 11, 12], [1]], width=12)
    out_packed, out_masked = packed(*inputs), masked(*inputs)
    torch.testing.assert_close(out_masked, out_packed, atol=1e-5, rtol=1e-5)
    out_packed.square().sum().backward(), out_masked.square().sum().backward()
    for (name, a), b in zip(packed.named_parameters(), masked.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_auto_strategy_masks_on_cpu_and_packs_elsewhere() -> None:
    encoder = tiny().encoder
    assert encoder.strategy(torch.device("cpu")) == "mask"
    assert encoder.strategy(torch.device("cuda")) == "pack"
    with pytest.raises(ValueError, match="variable_length must be 'auto', 'pack' or 'mask'"):
        tiny(variable_length="sorted")


def test_lstm_forget_gate_starts_open() -> None:
    model = tiny("lstm")
    assert torch.all(model.encoder.rnn.bias_ih_l0[6:12] == 1) and torch.all(model.encoder.rnn.bias_hh_l0 == 0)
    assert torch.all(model.embedding.weight[0] == 0)  # the padding row


def test_unknown_cell_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown cell 'transformer': choose one of rnn, lstm, gru"):
        RecurrentClassifier(VOCAB, CLASSES, "transformer")


@pytest.mark.parametrize("name", ["vocab_size", "num_classes", "embedding_dim", "hidden_size", "num_layers"])
def test_non_positive_sizes_are_refused(name: str) -> None:
    kwargs = {"vocab_size": VOCAB, "num_classes": CLASSES, "embedding_dim": 4, "hidden_size": 4, "num_layers": 1}
    kwargs[name] = 0
    with pytest.raises(ValueError, match=f"{name} must be a positive integer, got 0"):
        RecurrentClassifier(**kwargs)


@pytest.mark.parametrize("dropout", [-0.1, 1.0])
def test_dropout_outside_unit_interval_is_refused(dropout: float) -> None:
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        RecurrentClassifier(VOCAB, CLASSES, dropout=dropout)


@pytest.mark.parametrize(
    ("tokens", "lengths", "message"),
    [
        ([[1, 2, VOCAB]], [3], rf"token ids must be in \[0, {VOCAB}\).*got ids in \[1, {VOCAB}\]"),
        ([[1, -4, 2]], [3], r"token ids must be in \[0, 50\)"),
        ([[0, 0, 0], [1, 2, 0]], [0, 2], r"rows \[0\] have lengths \[0\] outside \[1, 3\]: an empty text"),
        ([[1, 2, 0]], [4], r"rows \[0\] have lengths \[4\] outside \[1, 3\]"),
        ([[1, 0, 2], [1, 2, 0]], [3, 2], r"rows \[0\] do not hold exactly their lengths' tokens first"),
        ([[0, 1, 2]], [2], r"rows \[0\] do not hold exactly their lengths' tokens first"),
        ([1, 2, 3], [3], r"non-empty \(batch, time\) tensor, got shape \(3,\)"),
        ([[1, 2]], [2, 2], r"one length per row, shape \(1,\), got \(2,\)"),
        ([[1.0, 2.0]], [2], "integer"),
    ],
)
def test_bad_batches_from_outside_are_named(tokens: list, lengths: list, message: str) -> None:
    """Checked where outside input arrives (the exported model's runner, library callers), not in forward."""
    with pytest.raises(ValueError, match=message):
        tiny().check_inputs(torch.tensor(tokens), torch.tensor(lengths))
    with pytest.raises(ValueError, match="non-empty"):
        tiny().check_inputs(torch.zeros(0, 5, dtype=torch.long), torch.zeros(0, dtype=torch.long))


def test_checked_batches_pass() -> None:
    tiny().check_inputs(*batch([[1, 2, 3], [1, 4]], width=5))
