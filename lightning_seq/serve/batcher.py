"""Dynamic batching: the texts of concurrent requests share one forward pass.

Requests queue while the model is busy; when it is free, the batcher takes the queued requests (whole, never split)
up to ``max_batch_size`` texts. A lone request waits at most ``batch_timeout`` seconds for company. The model runs
in one background thread, so the event loop keeps accepting and answering requests meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from lightning_seq.data.tokenizer import EncodedText


@dataclass
class _Pending:
    encoded: Sequence[EncodedText]
    future: asyncio.Future


class DynamicBatcher:
    """``await batcher.probabilities(encoded)``: this request's rows of a pooled ``run_batch`` call."""

    def __init__(
        self,
        run_batch: Callable[[list[EncodedText]], torch.Tensor],
        max_batch_size: int,
        batch_timeout: float,
    ) -> None:
        self.run_batch, self.max_batch_size, self.batch_timeout = run_batch, max_batch_size, batch_timeout
        self.batches = self.texts = 0  # served so far, for /health
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        """After the server has drained its connections: nothing is queued, but fail anything left all the same."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("the server is shutting down"))
        self._executor.shutdown(wait=True)

    async def probabilities(self, encoded: Sequence[EncodedText]) -> torch.Tensor:
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(encoded, future))
        return await future

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        carried: _Pending | None = None
        while True:
            batch = [carried or await self._queue.get()]
            carried, size = None, len(batch[0].encoded)
            deadline = loop.time() + self.batch_timeout
            while size < self.max_batch_size:
                try:
                    remaining = deadline - loop.time()
                    following = (
                        self._queue.get_nowait()
                        if remaining <= 0 or not self._queue.empty()
                        else await asyncio.wait_for(self._queue.get(), remaining)
                    )
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
                if size + len(following.encoded) > self.max_batch_size:
                    carried = following  # it opens the next batch
                    break
                batch.append(following)
                size += len(following.encoded)
            live = [pending for pending in batch if not pending.future.done()]  # a client may have gone
            if not live:
                continue
            texts = [item for pending in live for item in pending.encoded]
            try:
                rows = await loop.run_in_executor(self._executor, self.run_batch, texts)
            except Exception as error:  # the requests in this batch get it; the server goes on
                for pending in live:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                continue
            self.batches, self.texts = self.batches + 1, self.texts + len(texts)
            for pending, part in zip(live, rows.split([len(p.encoded) for p in live]), strict=True):
                if not pending.future.done():
                    pending.future.set_result(part)
