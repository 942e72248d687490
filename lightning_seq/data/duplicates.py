"""Facts about duplicate wires in Reuters, recomputed from the hash-pinned file (docs/data.md's data card).

Wires are compared by their token sequence. A model sees only the tokens, so it gives token-identical wires one
answer: where such wires carry different topics, some of them are wrong for any model.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from lightning_seq.data.sequences import Ragged, keras_cut, keras_order


@dataclass(frozen=True)
class DuplicateFacts:
    wires: int
    distinct: int  # distinct token sequences
    conflicting_groups: int  # groups of token-identical wires that carry more than one topic
    conflicting_wires: int  # the wires in those groups
    consecutive_groups: int  # conflicting groups whose wires sit next to each other in the file
    test_copies: int  # test wires token-identical to at least one training wire
    test_other_label: int  # ... of which a training copy carries another topic
    test_label_unseen: int  # ... of which no training copy carries the test wire's topic
    test_ceiling: float  # the best test accuracy any function of the tokens can reach (one answer per sequence)


def duplicate_facts(raw: Ragged, seed: int = 113) -> DuplicateFacts:
    sequences = [raw.sequence(index).tobytes() for index in range(len(raw))]
    labels = raw.labels.tolist()
    groups: dict[bytes, list[int]] = defaultdict(list)
    for index, sequence in enumerate(sequences):
        groups[sequence].append(index)
    conflicting = [members for members in groups.values() if len({labels[i] for i in members}) > 1]
    order = keras_order(len(raw), seed)
    cut = keras_cut(len(raw))
    training_labels: dict[bytes, set[int]] = defaultdict(set)
    for index in order[:cut]:
        training_labels[sequences[index]].add(labels[index])
    test = order[cut:].tolist()
    copies = [index for index in test if sequences[index] in training_labels]
    test_groups: dict[bytes, Counter] = defaultdict(Counter)
    for index in test:
        test_groups[sequences[index]][labels[index]] += 1
    return DuplicateFacts(
        wires=len(raw),
        distinct=len(groups),
        conflicting_groups=len(conflicting),
        conflicting_wires=sum(map(len, conflicting)),
        consecutive_groups=sum(1 for members in conflicting if max(members) - min(members) == len(members) - 1),
        test_copies=len(copies),
        test_other_label=sum(1 for i in copies if training_labels[sequences[i]] - {labels[i]}),
        test_label_unseen=sum(1 for i in copies if labels[i] not in training_labels[sequences[i]]),
        test_ceiling=sum(max(counts.values()) for counts in test_groups.values()) / len(test),
    )
