"""Multi-label decisions: the threshold sweep picks what F1 says, and an item always gets a label."""

from __future__ import annotations

import torch

from lightning_seq.training.thresholds import GRID, ThresholdSweep, decide


def test_sweep_picks_the_threshold_with_the_best_micro_f1_and_each_labels_own() -> None:
    # label 0's positives sit at 0.7, its negatives at 0.3; label 1's positives at 0.25, negatives at 0.05
    probabilities = torch.tensor([[0.7, 0.25], [0.3, 0.05], [0.7, 0.05], [0.3, 0.25]])
    target = torch.tensor([[1, 1], [0, 0], [1, 0], [0, 1]])
    sweep = ThresholdSweep(2, at_least_one=False)
    sweep.update(probabilities, target)
    choice = sweep.compute()
    # one global threshold: (0.05, 0.25] finds every positive at the cost of label 0's two negatives: F1 8/10
    assert float(choice["threshold"]) == 0.25 and abs(float(choice["f1_micro"]) - 0.8) < 1e-6
    # each label alone: label 0 is perfect in (0.3, 0.7] (0.5 is nearest one half), label 1 in (0.05, 0.25]
    assert choice["per_label"].tolist() == [0.5, 0.25]


def test_ties_go_to_the_threshold_nearest_one_half() -> None:
    sweep = ThresholdSweep(1, at_least_one=False)
    sweep.update(torch.tensor([[0.99], [0.01]]), torch.tensor([[1], [0]]))
    assert float(sweep.compute()["threshold"]) == 0.5  # every threshold in the grid is perfect here
    assert len(GRID) == 19


def test_an_item_with_no_label_above_its_threshold_gets_its_most_probable_one() -> None:
    probabilities = torch.tensor([[0.2, 0.4, 0.1], [0.9, 0.6, 0.1]])
    thresholds = torch.full((3,), 0.5)
    assert decide(probabilities, thresholds).tolist() == [[False, True, False], [True, True, False]]
    assert decide(probabilities, thresholds, at_least_one=False).tolist() == [
        [False, False, False],
        [True, True, False],
    ]


def test_softmax_multi_label_loss_shares_the_target_and_answers_with_softmax_probabilities() -> None:
    from lightning_seq.data.batching import Batch
    from lightning_seq.training.module import SequenceClassifier

    model = SequenceClassifier(20, 4, cell="gru", embedding_dim=4, hidden_size=4, label_mode="multi",
                               multi_label_loss="softmax")  # fmt: skip
    batch = Batch(
        torch.tensor([[1, 5, 6], [1, 7, 0]]), torch.tensor([3, 2]), torch.tensor([[1, 1, 0, 0], [0, 0, 1, 0]])
    )
    logits = model(batch.tokens, batch.lengths)
    loss, _ = model._evaluate(batch, "train")
    shared = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, shared))
    assert torch.allclose(model.probabilities(logits).sum(dim=1), torch.ones(2))
    assert model.decisions(logits).sum(dim=1).min() >= 1  # at least one label each
