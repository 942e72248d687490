"""What one server runs with; passed to uvicorn's worker processes as JSON in the environment."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

SETTINGS_ENV = "LIGHTNING_SEQ_SERVE_SETTINGS"  # how `--workers N` hands the settings to each worker process
# The Host names a server bound to the loopback answers to; any other name is a DNS-rebinding page's request.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")  # an IPv6 address in brackets, as a Host header has it


@dataclass(frozen=True)
class ServeSettings:
    checkpoints: tuple[str, ...]  # one, or an ensemble whose probabilities are averaged
    data_dir: str | None = None  # Reuters' word index (default: $LIGHTNING_SEQ_DATA or the cache)
    device: str = "cpu"
    max_batch_size: int = 128  # texts pooled from concurrent requests into one forward pass; 1: no pooling
    batch_timeout: float = 0.005  # seconds an idle model waits for more requests once one has arrived
    max_texts: int = 256  # texts in one request
    max_body_bytes: int = 4 * 1024 * 1024
    threads: int | None = None  # torch threads per worker (default: default_threads)
    workers: int = 1  # uvicorn worker processes, each with its own model
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS  # Host header names served ("*": any); others get 400
    body_timeout: float = 30.0  # seconds to receive a request's whole body once its headers are in; then 408

    def to_environment(self) -> None:
        os.environ[SETTINGS_ENV] = json.dumps(asdict(self))

    @classmethod
    def from_environment(cls) -> ServeSettings:
        values = json.loads(os.environ[SETTINGS_ENV])
        return cls(
            **values | {"checkpoints": tuple(values["checkpoints"]), "allowed_hosts": tuple(values["allowed_hosts"])}
        )


def default_threads(workers: int) -> int:
    """Each worker's share of the cores, less one for its event loop: the model runs in a thread beside the loop,
    and torch's threads spin-wait badly when they outnumber the free cores (measured in docs/serve.md: 2 threads
    beside the loop on 2 cores served 2.5x fewer texts/s without batching than 1 thread)."""
    return max(1, (os.cpu_count() or 1) // workers - 1)
