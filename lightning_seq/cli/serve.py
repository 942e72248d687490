"""``lightning-seq serve`` / ``scripts/serve.py``: a checkpoint (or an ensemble) behind HTTP on 127.0.0.1.

The checkpoints are loaded here first, so a bad one is one line before anything binds a port. One worker serves
the model loaded here; ``--workers N`` starts N uvicorn worker processes, each loading its own copy (uvicorn
replaces a worker that dies). SIGTERM or Ctrl+C: the listening socket closes, requests in flight are answered, and
the process exits with status 0.

A stranger's requests are bounded: a request's head must arrive within ``--header_timeout`` and ``--max_header_bytes``,
its body within ``--body_timeout`` and ``--max_body_bytes``; past ``--limit_concurrency`` connections a worker answers
503; only the Host names of ``--host`` (and ``--allowed_hosts``) are served.
"""

from __future__ import annotations

import functools
import ipaddress
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from jsonargparse.typing import restricted_number_type

from lightning_seq.cli.parsers import command_parser, parse
from lightning_seq.cli.predict import usable_device
from lightning_seq.constraints import NonNegativeInt, PositiveInt, plain_number
from lightning_seq.errors import BadValue, MissingFile, report_user_errors
from lightning_seq.inference.predictor import TopicPredictor
from lightning_seq.serve.settings import LOOPBACK_HOSTS, ServeSettings, default_threads

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")  # every interface: the names clients use cannot be known from the address
Seconds = restricted_number_type("Seconds", float, [(">", 0), ("<=", 3600)], docstring="seconds in (0, 3600]")
WORKER_HEALTHCHECK_S = 60
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


@report_user_errors
def main(argv: Sequence[str] | None = None) -> None:
    parser = command_parser("scripts/serve.py", "Serve a trained checkpoint over HTTP: POST /predict, a page at /.")
    parser.add_argument("--ckpt", action="append", required=True, help="a checkpoint; repeat it to serve an ensemble")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port")
    parser.add_argument("--workers", type=PositiveInt, default=1, help="worker processes, each with its own model copy")
    parser.add_argument(
        "--max_batch_size",
        type=PositiveInt,
        default=128,
        help="texts of concurrent requests pooled per forward pass (1: off)",
    )
    parser.add_argument(
        "--batch_timeout", type=float, default=0.005, help="seconds a lone request waits for others to batch with"
    )
    parser.add_argument("--max_texts", type=PositiveInt, default=256, help="texts one request may hold")
    parser.add_argument("--max_body_bytes", type=PositiveInt, default=4 * 1024 * 1024, help="largest request body")
    parser.add_argument(
        "--threads",
        type=NonNegativeInt,
        default=0,
        help="torch threads per worker (0: the cores / --workers, less one for HTTP)",
    )
    parser.add_argument(
        "--graceful_timeout", type=float, default=30.0, help="seconds SIGTERM waits for requests in flight"
    )
    parser.add_argument(
        "--allowed_hosts",
        action="append",
        default=[],
        help="a Host name clients use besides --host's (a proxy's; *.example.com; * for any); repeatable",
    )
    parser.add_argument(
        "--header_timeout", type=Seconds, default=10.0, help="seconds a connection may take to send a request's headers"
    )
    parser.add_argument(
        "--body_timeout", type=Seconds, default=30.0, help="seconds to receive a request's body once its headers came"
    )
    parser.add_argument("--max_header_bytes", type=PositiveInt, default=64 * 1024, help="largest request head")
    parser.add_argument(
        "--keep_alive_timeout", type=PositiveInt, default=5, help="seconds an idle connection is kept after an answer"
    )
    parser.add_argument(
        "--limit_concurrency",
        type=PositiveInt,
        default=512,
        help="connections (and requests) a worker holds at once; beyond it new requests get 503",
    )
    parser.add_argument("--data_dir", help="directory with reuters_word_index.json (default: $LIGHTNING_SEQ_DATA)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--log_level", default="info", help="uvicorn's: " + ", ".join(LOG_LEVELS))
    args = parse(parser, argv)
    _check(args)
    settings = ServeSettings(
        checkpoints=tuple(str(path) for path in args.ckpt),
        data_dir=args.data_dir,
        device=args.device,
        max_batch_size=plain_number(args.max_batch_size),
        batch_timeout=args.batch_timeout,
        max_texts=plain_number(args.max_texts),
        max_body_bytes=plain_number(args.max_body_bytes),
        threads=plain_number(args.threads or default_threads(args.workers)),
        workers=plain_number(args.workers),
        allowed_hosts=allowed_hosts(args.host, args.allowed_hosts),
        body_timeout=plain_number(args.body_timeout),
    )
    _check_port_free(args.host, args.port)
    predictor = TopicPredictor.from_checkpoints(settings.checkpoints, settings.data_dir, settings.device)
    if args.workers > 1:
        predictor = None  # each worker loads its own; this copy only proved the checkpoints load
    if args.host not in LOOPBACK:
        print(
            f"Serving on {args.host}: reachable from other machines; there is no authentication; Host names served: "
            f"{', '.join(settings.allowed_hosts)} (more: --allowed_hosts)",
            file=sys.stderr,
        )
    limits = ConnectionLimits(
        header_timeout=plain_number(args.header_timeout),
        max_header_bytes=plain_number(args.max_header_bytes),
        keep_alive_timeout=plain_number(args.keep_alive_timeout),
        limit_concurrency=plain_number(args.limit_concurrency),
    )
    run_server(settings, predictor, args.host, args.port, args.workers, args.graceful_timeout, args.log_level, limits)


def allowed_hosts(host: str, extra: Sequence[str]) -> tuple[str, ...]:
    """The Host names served: the loopback names for a loopback bind, and ``host`` itself for another address, always
    with ``extra``. Bound to every interface, any name unless ``extra`` lists them: such a server is open to the
    network by choice, and its clients' names (an IP address, a container's or a probe's) cannot be known here;
    DNS rebinding matters for a server that only listens locally."""
    own: list[str] = []
    if host in WILDCARD:
        if not extra:
            return ("*",)
        own = [socket.gethostname()]
    elif host not in LOOPBACK:
        own = [host]
    return tuple(dict.fromkeys(_as_host_header(name) for name in [*LOOPBACK_HOSTS, *own, *extra]))


def _as_host_header(name: str) -> str:
    """A name as it stands in a Host header: lower case, an IPv6 address in brackets."""
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return name.lower()
    return f"[{address}]" if address.version == 6 else str(address)


class ConnectionLimits:
    """uvicorn's settings against slow or many clients (see :mod:`lightning_seq.serve.protocol`)."""

    def __init__(
        self, header_timeout: float, max_header_bytes: int, keep_alive_timeout: int, limit_concurrency: int
    ) -> None:
        self.header_timeout, self.max_header_bytes = header_timeout, max_header_bytes
        self.keep_alive_timeout, self.limit_concurrency = keep_alive_timeout, limit_concurrency

    def uvicorn_options(self) -> dict:
        from lightning_seq.serve.protocol import BoundedHeadProtocol

        return {
            # a partial of a module-level class: uvicorn builds one per connection, and it pickles for --workers
            "http": functools.partial(
                BoundedHeadProtocol, header_timeout=self.header_timeout, max_header_bytes=self.max_header_bytes
            ),
            "timeout_keep_alive": self.keep_alive_timeout,
            "limit_concurrency": self.limit_concurrency,
        }


def run_server(
    settings: ServeSettings,
    predictor: TopicPredictor | None,
    host: str,
    port: int,
    workers: int,
    graceful_timeout: float,
    log_level: str,
    limits: ConnectionLimits | None = None,
) -> None:
    """uvicorn with the app (one worker: ``predictor``, or loaded at startup), or its supervisor over ``workers``
    processes, each loading the model itself."""
    import uvicorn

    from lightning_seq.serve.app import create_app

    options = {"host": host, "port": port, "log_level": log_level, "timeout_graceful_shutdown": graceful_timeout}
    options |= (limits or ConnectionLimits(10.0, 64 * 1024, 5, 512)).uvicorn_options()
    _exit_with_status_0_after_shutdown()
    if workers == 1:
        uvicorn.run(create_app(settings, predictor), **options)
        return
    settings.to_environment()
    uvicorn.run(
        "lightning_seq.serve.app:app_from_environment",
        factory=True,
        workers=workers,
        # How long a worker may take to answer the supervisor's ping. uvicorn's 5 s default is shorter than a
        # replacement worker's start (Python, then the pong thread) on 2 busy cores: the supervisor killed every
        # replacement as hung, and restarted it forever.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        **options,
    )


def _exit_with_status_0_after_shutdown() -> None:
    """uvicorn shuts down gracefully on SIGTERM/SIGINT, then restores the handlers it found and raises the signal
    again, which would end the process by the signal (status 143) or with a KeyboardInterrupt traceback. Handlers
    that do nothing make that last step a no-op, so a stopped server exits with status 0."""
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda received, frame: None)


def _check(args) -> None:
    for path in map(Path, args.ckpt):
        if not path.is_file():
            raise MissingFile(f"--ckpt {path} does not exist (or is not a file)")
    if not 0 < args.port < 65536:
        raise BadValue(f"--port {args.port}: must be in 1..65535")
    if not 0 <= args.batch_timeout <= 10:
        raise BadValue(f"--batch_timeout {args.batch_timeout}: must be in [0, 10] seconds")
    if args.log_level not in LOG_LEVELS:
        raise BadValue(f"--log_level {args.log_level}: choose one of {', '.join(LOG_LEVELS)}")
    if args.graceful_timeout < 0:
        raise BadValue(f"--graceful_timeout {args.graceful_timeout}: must be >= 0 seconds")
    for name in args.allowed_hosts:
        _check_host_name(name)
    usable_device(args.device)
    try:
        import fastapi  # noqa: F401
        import fastapi_offline  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise BadValue(f"serving needs the serve extra ({error.name} is missing): pip install -e '.[serve]'") from None


def _check_host_name(name: str) -> None:
    """What Starlette's TrustedHostMiddleware can match (it would fail with an assertion otherwise): a name or
    address without scheme or port, ``*.domain``, or ``*``."""
    try:
        ipaddress.ip_address(name.strip("[]"))
        return
    except ValueError:
        pass
    domain = name[2:] if name.startswith("*.") else None
    wildcard_ok = name == "*" or (domain is not None and _plain_host(domain))
    plain_ok = _plain_host(name)
    if not (wildcard_ok or plain_ok):
        raise BadValue(
            f"--allowed_hosts {name!r}: give a host name as clients send it, without scheme or port "
            "(api.example.com), *.example.com for its subdomains, or * for any"
        )


def _plain_host(name: str) -> bool:
    """A name a Host header can carry: no wildcard, scheme, port or space, no empty label (``a..b``; a final dot,
    ``example.com.``, is allowed)."""
    labels = name.removesuffix(".").split(".")
    return bool(name) and all(labels) and not any(char in name for char in "*:/ ") and name.isprintable()


def _check_port_free(host: str, port: int) -> None:
    """One line now rather than uvicorn's log line after the model has loaded."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise BadValue(f"--host {host}: not an address this machine can bind ({error.strerror})") from None
    family, kind, _, _, address = infos[0]
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise BadValue(f"--port {port} on {host}: {error.strerror}; choose another --port") from None
