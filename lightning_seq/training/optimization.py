"""The optimizer and its schedule; fine-tuning's discriminative learning rates and gradual unfreezing (ULMFiT).

A pretrained encoder's lower layers hold general knowledge of the language that a large early step would wash
out, so Howard & Ruder (2018) give each layer group its own learning rate, divided by 2.6 per group downwards
(discriminative rates), and train the top group alone first, unfreezing one more group per epoch (gradual
unfreezing). Both are hand-written here rather than Lightning's ``BaseFinetuning`` callback: that one adds the
unfrozen groups to the optimizer as the epochs go, and a one-cycle schedule fixes its groups when it is built.
Frozen parameters simply get no gradient: every torch optimizer skips a parameter whose gradient is ``None``
(weight decay included), so all groups can be in the optimizer from the start.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from lightning_seq.nn.classifier import RecurrentClassifier

LR_SCALE = "lr_scale"  # a parameter group's share of the optimizer's (and the scheduler's) learning rate
SCHEDULED_RATES = ("max_lr", "base_lr")  # schedulers that set every step's rate from these: OneCycleLR, CyclicLR


def optimizer_and_schedule(
    module: LightningModule,
    optimizer: OptimizerCallable,
    scheduler: LRSchedulerCallable | None,
    groups: list[dict[str, Any]],
    interval: str = "step",
) -> torch.optim.Optimizer | dict[str, Any]:
    """The optimizer over ``groups`` (each may carry an ``lr_scale``) and, if configured, its scheduler.

    A run-length scheduler (OneCycleLR) configured without ``total_steps`` gets the run's step count; a scheduler
    that sets the rates itself from ``max_lr`` / ``base_lr`` gets them scaled per group, so that the scales hold.
    """
    scales = [float(group.pop(LR_SCALE, 1.0)) for group in groups]
    built = optimizer(groups)
    for group, scale in zip(built.param_groups, scales, strict=True):
        group["lr"] *= scale
    if scheduler is None:
        return built
    keywords = getattr(scheduler, "keywords", {})
    settings: dict[str, Any] = {}
    if "total_steps" in keywords and keywords["total_steps"] is None:
        settings["total_steps"] = module.trainer.estimated_stepping_batches  # read only here: may run without one
    if any(scale != 1.0 for scale in scales):
        for key in SCHEDULED_RATES:
            if isinstance(keywords.get(key), int | float):
                settings[key] = [keywords[key] * scale for scale in scales]
    return {"optimizer": built, "lr_scheduler": {"scheduler": scheduler(built, **settings), "interval": interval}}


def layer_groups(net: RecurrentClassifier) -> list[list[nn.Parameter]]:
    """The classifier's parameters from the top down: the head (with pooling and the n-gram branch), each
    recurrent layer from the last to the first, then the word embedding."""
    rnn = net.encoder.rnn
    layers = [
        [weight for name, weight in rnn.named_parameters() if name.removesuffix("_reverse").endswith(f"_l{layer}")]
        for layer in reversed(range(rnn.num_layers))
    ]
    below_head = {id(weight) for group in layers for weight in group} | {id(net.embedding.weight)}
    head = [weight for weight in net.parameters() if id(weight) not in below_head]
    return [head, *layers, [net.embedding.weight]]


def discriminative_groups(net: RecurrentClassifier, decay: float) -> list[dict[str, Any]]:
    """One parameter group per layer group, each learning ``decay`` times slower than the one above it."""
    return [{"params": group, LR_SCALE: decay**-depth} for depth, group in enumerate(layer_groups(net))]


def unfreeze_top_groups(net: RecurrentClassifier, epoch: int, every: int, keep_frozen: set[int]) -> int:
    """Gradual unfreezing: the top group trains alone for ``every`` epochs, then one more group joins per ``every``
    epochs. Parameters in ``keep_frozen`` (ids: frozen word vectors) stay frozen. Returns the trainable groups."""
    groups = layer_groups(net)
    trainable = min(1 + epoch // every, len(groups))
    for depth, group in enumerate(groups):
        for weight in group:
            weight.requires_grad_(depth < trainable and id(weight) not in keep_frozen)
    return trainable
