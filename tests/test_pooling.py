"""Pooling over recurrent outputs: each mode counts only real steps, on every cell and strategy."""

from __future__ import annotations

import pytest
import torch

from lightning_seq.nn.classifier import RecurrentClassifier
from lightning_seq.nn.pooling import POOLINGS, SequencePooling


def test_pooling_ignores_everything_beyond_each_length() -> None:
    steps = torch.tensor([[[1.0, 4.0], [3.0, 2.0], [1e6, -1e6]], [[2.0, 2.0], [-1e6, 1e6], [float("nan"), 5.0]]])
    final = torch.tensor([[7.0, 7.0], [8.0, 8.0]])
    lengths = torch.tensor([2, 1])
    assert SequencePooling("mean", 2)(steps, final, lengths).tolist() == [[2.0, 3.0], [2.0, 2.0]]
    assert SequencePooling("max", 2)(steps, final, lengths).tolist() == [[3.0, 4.0], [2.0, 2.0]]
    assert SequencePooling("last", 2)(steps, final, lengths).tolist() == final.tolist()
    attention = SequencePooling("attention", 2)(steps, final, lengths)
    assert torch.isfinite(attention).all()
    assert attention[1].tolist() == [2.0, 2.0]  # one real step: all the weight is on it
    assert 1.0 <= attention[0, 0] <= 3.0 and 2.0 <= attention[0, 1] <= 4.0  # a convex mix of the real steps


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_pooling_is_padding_invariant_and_strategy_free(pooling: str, cell: str, bidirectional: bool) -> None:
    def build(strategy: str) -> RecurrentClassifier:
        torch.manual_seed(0)
        kwargs = {"embedding_dim": 8, "hidden_size": 6, "num_layers": 2, "pooling": pooling}
        return RecurrentClassifier(50, 46, cell, bidirectional=bidirectional, variable_length=strategy, **kwargs).eval()

    packed, masked = build("pack"), build("mask")
    short, long = [1, 11, 12, 13], [1, *range(3, 39)]
    tokens, lengths = torch.tensor([short + [0] * 56, long + [0] * 23]), torch.tensor([len(short), len(long)])
    with torch.no_grad():
        alone = masked(torch.tensor([short]), torch.tensor([len(short)]))[0]
        beside = masked(tokens, lengths)
        torch.testing.assert_close(beside[0], alone, atol=1e-5, rtol=0)
        torch.testing.assert_close(packed(tokens, lengths), beside, atol=1e-5, rtol=1e-5)


def test_bad_pooling_and_embedding_dropout() -> None:
    with pytest.raises(ValueError, match="unknown pooling 'sum': choose one of last, mean, max, attention"):
        SequencePooling("sum", 4)
    with pytest.raises(ValueError, match=r"embedding_dropout must be in \[0, 1\)"):
        RecurrentClassifier(50, 46, embedding_dropout=1.0)
