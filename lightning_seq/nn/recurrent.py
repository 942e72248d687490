"""A recurrent stack over variable-length batches whose result never depends on padding.

Two exact ways, chosen per device (measured with ``scripts/benchmark.py``):

- ``pack``: ``pack_padded_sequence``; cuDNN runs packed batches natively, so it is the GPU default.
- ``mask``: run over the padded batch and read each sequence's state at its own last token. A backward
  direction runs on sequences reversed within their length, so it too starts at a real token.
  On CPU this is ~2.5x faster than packing (GRU(64), batch 128), so it is the CPU default.

Both read the same parameters of one ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``, so checkpoints move freely
between devices and strategies.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Cell = Literal["rnn", "lstm", "gru"]
VariableLength = Literal["auto", "pack", "mask"]
CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentEncoder(nn.Module):
    """``(batch, time, features)`` left-aligned inputs + lengths -> the top layer's outputs and final states.

    Args:
        cell: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
        input_size: Features per time step.
        hidden_size: State width per direction.
        num_layers: Stacked layers.
        bidirectional: Also read each sequence backwards; the output holds both final states.
        dropout: Dropout between stacked layers.
        variable_length: ``"pack"``, ``"mask"``, or ``"auto"`` (pack on accelerators, mask on CPU).
    """

    def __init__(
        self,
        cell: Cell,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        variable_length: VariableLength = "auto",
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}: choose one of {', '.join(CELLS)}")
        if variable_length not in ("auto", "pack", "mask"):
            raise ValueError(f"variable_length must be 'auto', 'pack' or 'mask', got {variable_length!r}")
        self.cell = cell
        self.variable_length = variable_length
        self.rnn = CELLS[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,  # torch warns about inter-layer dropout with 1 layer
        )
        self.output_size = hidden_size * (2 if bidirectional else 1)
        # One-layer, one-direction modules of the same cell that run a direction of a layer of `rnn` on `rnn`'s own
        # parameters, tied to them before each call. A plain list, not submodules: checkpoints do not change. On the
        # meta device: their own parameters are never used, take no memory and draw nothing from the random stream.
        widths = [input_size] + [self.output_size] * (num_layers - 1)
        self._one_direction = [CELLS[cell](width, hidden_size, batch_first=True, device="meta") for width in widths]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot input and orthogonal recurrent weights per gate, zero biases, LSTM forget-gate bias 1.

        The forget-gate bias of 1 keeps early gradients flowing through time (Jozefowicz et al., 2015).
        """
        hidden = self.rnn.hidden_size
        for name, weight in self.rnn.named_parameters():
            if name.startswith("bias"):
                nn.init.zeros_(weight)
                if self.cell == "lstm" and name.startswith("bias_ih"):
                    nn.init.ones_(weight[hidden : 2 * hidden])  # gate order i, f, g, o
                continue
            init = nn.init.xavier_uniform_ if name.startswith("weight_ih") else nn.init.orthogonal_
            for gate in weight.split(hidden):
                init(gate)

    def forward(self, inputs: Tensor, lengths: Tensor, with_steps: bool = False) -> tuple[Tensor | None, Tensor]:
        """``(steps, final)`` for inputs holding each sequence's ``lengths[i] >= 1`` steps first, padding after.

        ``final`` ``(batch, directions * hidden)``: each direction's state after reading the whole sequence.
        ``steps`` ``(batch, time, directions * hidden)``, only ``with_steps``: the top layer's output at
        every step, valid where ``t < lengths[i]`` (what lies beyond is undefined; pooling masks it).
        """
        if self.strategy(inputs.device) == "pack":
            return self._packed(inputs, lengths, with_steps)
        return self._masked(inputs, lengths)

    def strategy(self, device: torch.device) -> str:
        if self.variable_length != "auto":
            return self.variable_length
        return "mask" if device.type == "cpu" else "pack"

    def _packed(self, inputs: Tensor, lengths: Tensor, with_steps: bool) -> tuple[Tensor | None, Tensor]:
        packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, state = self.rnn(packed)
        hidden = state[0] if isinstance(state, tuple) else state  # an LSTM's state is (h, c)
        directions = 2 if self.rnn.bidirectional else 1
        batch, width = hidden.size(1), hidden.size(2)
        top = hidden.view(self.rnn.num_layers, directions, batch, width)[-1]
        final = top.transpose(0, 1).reshape(batch, directions * width)
        steps = pad_packed_sequence(output, batch_first=True, total_length=inputs.size(1))[0] if with_steps else None
        return steps, final

    def _masked(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        rows = torch.arange(inputs.size(0), device=inputs.device)
        last = lengths - 1
        if not self.rnn.bidirectional:
            output, _ = self.rnn(inputs)  # states after a sequence's end are never read
            return output, output[rows, last]
        reverse = _reverse_within_lengths(lengths, inputs.size(1))
        layer_input = inputs
        for layer in range(self.rnn.num_layers):
            if layer > 0:
                layer_input = F.dropout(layer_input, self.rnn.dropout, self.training)
            forward = self._direction(layer_input, layer, "")
            backward = _gather_steps(self._direction(_gather_steps(layer_input, reverse), layer, "_reverse"), reverse)
            layer_input = torch.cat([forward, backward], dim=2)
        return layer_input, torch.cat([forward[rows, last], backward[:, 0]], dim=1)

    def _direction(self, inputs: Tensor, layer: int, suffix: str) -> Tensor:
        """One direction of one layer, run forwards over ``inputs`` with the module's own weights.

        The weights are tied (the same Parameter objects, as in weight tying), so gradients reach ``rnn``'s, and a
        public ``nn.GRU`` / ``nn.LSTM`` / ``nn.RNN`` call runs them: its kernel, its export to ONNX's recurrent
        operators. (``torch.func.functional_call`` would be the other public route, but tracing refuses it.)
        """
        one = self._one_direction[layer]
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(one, f"{name}_l0", getattr(self.rnn, f"{name}_l{layer}{suffix}"))
        return one(inputs)[0]


def _reverse_within_lengths(lengths: Tensor, width: int) -> Tensor:
    """Per-row step indices that reverse each sequence's first ``length`` steps and keep the padding."""
    steps = torch.arange(width, device=lengths.device).unsqueeze(0)
    ends = lengths.unsqueeze(1) - 1
    return torch.where(steps <= ends, ends - steps, steps)  # broadcasts to (batch, width)


def _gather_steps(values: Tensor, index: Tensor) -> Tensor:
    return values.gather(1, index.unsqueeze(2).expand(-1, -1, values.size(2)))
