"""Several classifiers of one vocabulary and label set as one network: the mean of their probabilities.

Models that make different mistakes average to a better one (two ``configs/fast.yaml`` BiGRUs: 0.810 and 0.809
alone, 0.819 averaged). As one ``nn.Module`` with the members' ``(tokens, lengths) -> logits`` contract, an
ensemble exports, tests and serves like a single model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lightning_seq.nn.classifier import RecurrentClassifier


class EnsembleClassifier(nn.Module):
    """``log(mean_i softmax(member_i(tokens, lengths)))``: log-probabilities, usable wherever logits are, since
    their softmax is the members' mean probability and their argmax its most probable label.

    Single-label members only: multi-label members' sigmoid outputs carry thresholds chosen for each member.

    Args:
        members: Classifiers with the same vocabulary size and number of outputs.
    """

    def __init__(self, members: Sequence[RecurrentClassifier]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        shapes = {(member.vocab_size, member.head.out_features) for member in members}
        if len(shapes) > 1:
            raise ValueError(f"ensemble members differ in (vocab_size, classes): {sorted(shapes)}")
        self.members = nn.ModuleList(members)
        self.vocab_size = members[0].vocab_size
        self.num_classes = members[0].head.out_features

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return self.average([member(tokens, lengths).log_softmax(dim=-1) for member in self.members])

    @staticmethod
    def average(log_probabilities: Sequence[Tensor]) -> Tensor:
        """``log(mean(exp(...)))`` of the members' log-probabilities, computed without leaving log space."""
        return torch.logsumexp(torch.stack(list(log_probabilities)), dim=0) - math.log(len(log_probabilities))
