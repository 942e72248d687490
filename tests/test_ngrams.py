"""The n-gram branch: which n-grams a text has, exactness under padding, and its place in the classifier."""

from __future__ import annotations

import pytest
import torch

from lightning_seq.nn.classifier import RecurrentClassifier
from lightning_seq.nn.ngrams import HashedNgramBag
from tests.test_model import batch


def test_each_row_counts_exactly_its_own_ngrams() -> None:
    bag = HashedNgramBag(vocab_size=20, order=3, buckets=7, width=4)
    tokens, lengths = batch([[1, 5, 9, 3, 4], [1, 7], [2]], width=6)
    ids, weights = bag.ngram_ids(tokens, lengths)
    counts = (weights > 0).sum(dim=1).tolist()
    assert counts == [5 + 4 + 3, 2 + 1 + 0, 1]  # words, bigrams, trigrams within each row's length
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))
    used = ids[weights > 0]
    assert used.min() >= 0 and used.max() < 20 + 7  # words keep their own row, n-grams share the buckets after them
    assert ids[0, :5].tolist() == [1, 5, 9, 3, 4] and (ids[0, 6:][weights[0, 6:] > 0] >= 20).all()


def test_the_same_bigram_gets_the_same_bucket_wherever_it_stands() -> None:
    bag = HashedNgramBag(vocab_size=50, order=2, buckets=1000, width=4)
    tokens, lengths = batch([[3, 8, 11, 3, 8]])
    ids, _ = bag.ngram_ids(tokens, lengths)
    bigrams = ids[0, 5:9].tolist()  # (3 8) (8 11) (11 3) (3 8)
    assert bigrams[0] == bigrams[3] and len(set(bigrams[:3])) == 3


def test_the_bag_is_the_mean_of_its_rows() -> None:
    bag = HashedNgramBag(vocab_size=10, order=1, buckets=5, width=3)
    tokens, lengths = batch([[2, 4, 4]])
    expected = bag.table.weight[[2, 4, 4]].mean(dim=0)
    torch.testing.assert_close(bag(tokens, lengths)[0], expected)
    assert bag.table.num_embeddings == 10  # order 1: no hashed rows at all


@pytest.mark.parametrize("order", [1, 2, 3])
def test_logits_with_ngrams_do_not_depend_on_padding(order: int) -> None:
    torch.manual_seed(0)
    net = RecurrentClassifier(50, 46, "gru", embedding_dim=8, hidden_size=6, bidirectional=True, pooling="max",
                              ngram_order=order, ngram_buckets=97, ngram_width=5).eval()  # fmt: skip
    short, long = [1, 11, 12], [1, *range(3, 40)]
    with torch.no_grad():
        alone = net(*batch([short]))[0]
        beside = net(*batch([short, long]))[0]
        wide = net(*batch([short, long], width=60))[0]
        single_word = net(*batch([[7], long]))[0]  # shorter than every n-gram but the word
    torch.testing.assert_close(beside, alone, atol=1e-6, rtol=0)
    torch.testing.assert_close(wide, alone, atol=1e-6, rtol=0)
    assert torch.isfinite(single_word).all()
    assert net.head.in_features == 12 + 5


def test_the_branch_learns_with_the_rest_and_is_off_by_default() -> None:
    torch.manual_seed(0)
    net = RecurrentClassifier(50, 4, "gru", embedding_dim=8, hidden_size=6, ngram_order=2, ngram_buckets=31)
    net(*batch([[1, 5, 9], [2, 7]])).sum().backward()
    assert net.ngrams is not None and net.ngrams.table.weight.grad.abs().sum() > 0
    plain = RecurrentClassifier(50, 4, "gru", embedding_dim=8, hidden_size=6)
    assert plain.ngrams is None and plain.head.in_features == 6
    assert not any("ngrams" in name for name in plain.state_dict())  # seed presets' checkpoints are unchanged


@pytest.mark.parametrize("name, value", [("ngram_order", -1), ("ngram_buckets", 0), ("ngram_width", 0)])
def test_bad_ngram_settings_are_named(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=name):
        RecurrentClassifier(50, 4, **{name: value})
