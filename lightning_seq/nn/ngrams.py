"""The wide branch of a wide-and-deep classifier: a bag of words and hashed n-grams (fastText, Joulin et al. 2017).

A linear model over uni- and bigram counts makes other mistakes than a recurrent reader (on Reuters a TF-IDF
linear SVM ties a tuned BiGRU, and their averaged probabilities beat both), so the classifier can learn both at
once: this branch's averaged n-gram vectors join the pooled recurrent state before the head.

The n-gram ids are computed from the token ids inside ``forward``, with tensor arithmetic only, so that a
checkpoint, ``predict``, the server and an exported ONNX or TorchScript model need no other inputs than the
recurrent model's ``(tokens, lengths)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

# A prime for the polynomial rolling hash of n-gram ids. Each step reduces modulo the bucket count first, so every
# product stays far below 2**63 for any bucket count up to 2**32.
_HASH_MULTIPLIER = 1_000_003


class HashedNgramBag(nn.Module):
    """The mean of the vectors of a text's words and of its hashed 2..``order``-grams, over its real tokens only.

    Words keep a row each (ids below ``vocab_size``); longer n-grams share ``buckets`` hashed rows after them, as in
    fastText. An n-gram counts only if it lies wholly within the row's ``lengths[i]`` tokens, so padding changes
    nothing, whichever side or however much of it a batch has.

    Args:
        vocab_size: Word rows: every token id must be below it.
        order: The longest n-gram: 1 is a bag of words, 2 adds bigrams (fastText's ``-wordNgrams 2``).
        buckets: Hashed rows shared by all n-grams of length 2..``order``.
        width: The bag vector's width.
    """

    def __init__(self, vocab_size: int, order: int, buckets: int, width: int) -> None:
        super().__init__()
        if order < 1:
            raise ValueError(f"an n-gram bag needs order >= 1, got {order}")
        self.vocab_size, self.order, self.buckets, self.width = vocab_size, order, buckets, width
        self.table = nn.EmbeddingBag(vocab_size + (buckets if order > 1 else 0), width, mode="sum")
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """fastText's initialisation: uniform in ``±1/width``."""
        nn.init.uniform_(self.table.weight, -1.0 / self.width, 1.0 / self.width)

    def ngram_ids(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``(ids, weights)``, both ``(batch, order * time)``: row ``i``'s weights are ``1 / its n-gram count`` on its
        n-grams and 0 on the windows that reach into padding."""
        time = tokens.size(1)
        positions = torch.arange(time, device=tokens.device).unsqueeze(0)
        ids, valid = [tokens], [positions < lengths.unsqueeze(1)]
        # Right-padding by order - 1 gives every order ``time`` windows (those past the end are invalid), so that
        # no shape depends on the data and the graph traces once for every width.
        padded = F.pad(tokens, (0, self.order - 1))
        hashed = padded[:, :time]
        for n in range(2, self.order + 1):
            hashed = (hashed * _HASH_MULTIPLIER + padded[:, n - 1 : n - 1 + time]) % self.buckets
            ids.append(hashed + self.vocab_size)
            valid.append(positions + n <= lengths.unsqueeze(1))
        weights = torch.cat(valid, dim=1).to(self.table.weight.dtype)
        return torch.cat(ids, dim=1), weights / weights.sum(dim=1, keepdim=True)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """``(batch, width)``: each row's mean n-gram vector (every row has at least one word)."""
        ids, weights = self.ngram_ids(tokens, lengths)
        return self.table(ids, per_sample_weights=weights)
