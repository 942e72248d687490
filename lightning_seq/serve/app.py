"""The FastAPI application: ``POST /predict``, ``GET /health``, ``GET /info``, the page at ``/`` and ``/docs``.

Every bad request is answered with a 4xx and ``{"detail": "<one line>"}``, which quotes at most a short, escaped
excerpt of what was sent; the server goes on serving. Requests for a Host name the server does not answer to (a
DNS-rebinding page's) get 400, a body that does not arrive in time 408. ``/docs`` loads Swagger UI from this server,
never from a CDN. The model is loaded once per worker process (uvicorn's ``--workers``), and each worker batches its
concurrent requests (:mod:`lightning_seq.serve.batcher`).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lightning_seq.checkpoint_file import read_checkpoint
from lightning_seq.errors import UserError, excerpt
from lightning_seq.inference.loading import data_settings
from lightning_seq.inference.predictor import TopicPredictor
from lightning_seq.serve.batcher import DynamicBatcher
from lightning_seq.serve.schema import ErrorResponse, PredictRequest, PredictResponse, TextPrediction
from lightning_seq.serve.settings import ServeSettings, default_threads

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": what}
    for code, what in [
        (400, "the body is not JSON, or the Host header is not a name this server answers to"),
        (408, "the body did not arrive within the server's body timeout"),
        (413, "the body is over the server's size limit"),
        (
            422,
            "a field is missing or mistyped, a text is empty, not valid Unicode or has no known word, or top_k is out "
            "of range",
        ),
    ]
}


def create_app(settings: ServeSettings, predictor: TopicPredictor | None = None) -> FastAPI:
    """The application; ``predictor`` when the caller has loaded it already (one worker), else loaded at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        torch.set_num_threads(settings.threads or default_threads(settings.workers))
        model = predictor or TopicPredictor.from_checkpoints(settings.checkpoints, settings.data_dir, settings.device)
        app.state.predictor = model
        app.state.batcher = DynamicBatcher(model.probabilities, settings.max_batch_size, settings.batch_timeout)
        app.state.checkpoints = [_checkpoint_info(Path(path)) for path in settings.checkpoints]
        app.state.batcher.start()
        yield
        await app.state.batcher.stop()

    app = FastAPIOffline(  # Swagger UI's files from the fastapi-offline package, served here; no ReDoc page
        redoc_url=None,
        title="lightning_seq",
        summary="Topic labels for texts from a trained recurrent classifier.",
        version="1",
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},  # else the page sends the schema's address to swagger.io
    )
    app.add_middleware(RequestLimits, max_bytes=settings.max_body_bytes, body_timeout=settings.body_timeout)
    app.add_middleware(HostCheck, allowed_hosts=settings.allowed_hosts)  # added last: it runs first
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)  # FastAPI's own 400s are Starlette's

    @app.post("/predict", response_model=PredictResponse, responses=ERRORS)
    async def predict(request: PredictRequest) -> PredictResponse:
        """Labels for each text: the decision, the ``top_k`` most probable, and the words the model did not know."""
        model: TopicPredictor = app.state.predictor
        if not request.texts:
            raise HTTPException(422, "texts is empty: give at least one text")
        if len(request.texts) > settings.max_texts:
            raise HTTPException(
                422, f"{len(request.texts)} texts in one request; this server takes at most {settings.max_texts} "
                "(--max_texts): split the request"
            )  # fmt: skip
        top_k = model.default_top_k if request.top_k is None else request.top_k
        try:
            model.check_top_k(top_k)
            encoded = model.encode(request.texts, max_problems=FEW)
        except UserError as error:
            raise HTTPException(422, _one_line(str(error))) from None
        try:
            probabilities = await app.state.batcher.probabilities(encoded)
        except UserError as error:  # the model's fault, not the request's (e.g. a checkpoint with NaN weights)
            raise HTTPException(500, _one_line(str(error))) from None
        answers = model.predictions(request.texts, encoded, probabilities, top_k)
        return PredictResponse(predictions=[TextPrediction.of(answer) for answer in answers])

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """200 once the model is loaded; what this worker has served."""
        batcher: DynamicBatcher = app.state.batcher
        return {"status": "ok", "pid": os.getpid(), "batches": batcher.batches, "texts": batcher.texts}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        """Labels, vocabulary, each checkpoint's training settings and its run's test metrics, the serving limits."""
        model: TopicPredictor = app.state.predictor
        return {
            "labels": list(model.topic_names),
            "multi_label": bool(model.model.multi_label),
            "vocabulary_size": model.tokenizer.vocab_size,
            "maxlen": model.maxlen,
            "checkpoints": app.state.checkpoints,
            "serving": {
                key: getattr(settings, key)
                for key in (
                    "max_batch_size",
                    "batch_timeout",
                    "max_texts",
                    "max_body_bytes",
                    "body_timeout",
                    "allowed_hosts",
                    "threads",
                    "workers",
                    "device",
                )
            },
        }

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return files("lightning_seq.serve").joinpath("page.html").read_text(encoding="utf-8")

    return app


def app_from_environment() -> FastAPI:
    """uvicorn's factory in each ``--workers`` process: the settings the front door put in the environment."""
    return create_app(ServeSettings.from_environment())


class HostCheck:
    """Starlette's :class:`TrustedHostMiddleware` deciding, answering a refused Host in the usual one-line JSON.

    A page from another site can rebind its own name to 127.0.0.1 and call ``/predict``; the browser then sends that
    site's name as Host. A name outside ``allowed_hosts`` (any port) gets 400."""

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...]) -> None:
        self.app, self.allowed_hosts = app, allowed_hosts
        self.check = TrustedHostMiddleware(self._allowed, allowed_hosts=list(allowed_hosts), www_redirect=False)

    async def _allowed(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["lightning_seq.host_allowed"] = True
        await self.app(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_unless_refused(message: Message) -> None:  # TrustedHostMiddleware's plain-text 400 is dropped
            if scope.get("lightning_seq.host_allowed"):
                await send(message)

        await self.check(scope, receive, send_unless_refused)
        if not scope.get("lightning_seq.host_allowed"):
            host = Headers(scope=scope).get("host")
            given = f"Host {excerpt_with_length(host)}" if host else "no Host header"
            detail = (
                f"{given}: this server answers to {', '.join(self.allowed_hosts)} only; if clients reach it by "
                "another name (a proxy's, say), start it with --allowed_hosts NAME"
            )
            await _json_error(detail, 400)(scope, receive, send)


class RequestLimits:
    """413 for a body over ``max_bytes``: by its Content-Length before reading, or while reading a chunked one; 408
    for a body not received in full within ``body_timeout`` seconds (uvicorn would wait for a half-sent one forever).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout: float) -> None:
        self.app, self.max_bytes, self.body_timeout = app, max_bytes, body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _json_error(self._message(f"is {int(declared):,} bytes"), 413)(scope, receive, send)
            return
        received, more_body, deadline = 0, True, None

        async def counted() -> Message:
            nonlocal received, more_body, deadline
            if not more_body:  # the body is in; what follows is a wait for the client to disconnect
                return await receive()
            loop = asyncio.get_running_loop()
            deadline = deadline or loop.time() + self.body_timeout
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise HTTPException(
                    408,
                    f"the body did not arrive within {self.body_timeout:g} s (--body_timeout; {received:,} bytes "
                    "came): send the whole body at once",
                    headers={"connection": "close"},
                ) from None
            more_body = message["type"] == "http.request" and message.get("more_body", False)
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # FastAPI passes an HTTPException raised while reading the body through
                raise HTTPException(413, self._message(f"passed {self.max_bytes:,} bytes"))
            return message

        await self.app(scope, counted, send)

    def _message(self, size: str) -> str:
        return (
            f"the body {size}; this server takes at most {self.max_bytes:,} (--max_body_bytes): send fewer or shorter "
            "texts per request"
        )


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = error.errors()
    if any(problem["type"] == "json_invalid" for problem in problems):
        reason = next(problem for problem in problems if problem["type"] == "json_invalid")
        context = reason.get("ctx", {}).get("error", "")
        return _json_error(f"the body is not valid JSON ({_bounded(str(context))}); send {_EXAMPLE}", 400)
    # Each problem's place and message only: pydantic's "input" (the whole value, a 4 MB text say) is not echoed.
    described = [f"{_where(problem['loc'])}: {_bounded(str(problem['msg']))}" for problem in problems]
    return _json_error(f"{_first_few(described, 'problems')}; send {_EXAMPLE}", 422)


# FastAPI's answer to a body it could not decode at all (bytes that are not UTF-8 before JSON is even parsed).
_UNPARSED_BODY = "There was an error parsing the body"


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    if error.status_code == 400 and error.detail == _UNPARSED_BODY:
        return _json_error(f"the body is not UTF-8 JSON; send UTF-8 text such as {_EXAMPLE}", 400)
    return _json_error(str(error.detail), error.status_code, headers=error.headers)


def _json_error(detail: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"detail": ...}``; a character UTF-8 cannot carry (a lone surrogate) is sent as its escape, not a 500."""
    return JSONResponse({"detail": detail.encode("utf-8", "backslashreplace").decode()}, status, headers=headers)


LINE_LIMIT = 300  # characters of one problem line in an error answer
FEW = 5  # problems listed in one error answer; the rest are counted


def excerpt_with_length(text: str, limit: int = 80) -> str:
    """``text`` quoted and escaped, cut to ``limit`` characters with its length after a cut."""
    return excerpt(text, limit) + (f" ({len(text):,} chars)" if len(text) > limit else "")


def _bounded(line: str, limit: int = LINE_LIMIT) -> str:
    """A line cut in the middle to ``limit`` characters: its start (what is wrong) and end (the fix) stay."""
    if len(line) <= limit:
        return line
    head, tail = limit * 3 // 5, limit * 2 // 5
    return f"{line[:head]} ... [{len(line) - head - tail:,} characters cut] ... {line[-tail:]}"


def _first_few(lines: list[str], what: str) -> str:
    shown = "; ".join(lines[:FEW])
    return f"{shown}; and {len(lines) - FEW} more {what}" if len(lines) > FEW else shown


_EXAMPLE = '{"texts": ["..."], "top_k": 3}'


def _where(location: tuple) -> str:
    """``("body", "texts", 2)`` -> ``texts[2]``; the body itself -> ``body``; a long or odd key name is quoted,
    escaped and cut."""
    parts = [str(part) if len(str(part)) <= 40 and str(part).isprintable() else excerpt_with_length(str(part), 40)
             for part in location[1:]] or ["body"]  # fmt: skip
    return parts[0] + "".join(f"[{part}]" for part in parts[1:])


def _one_line(message: str) -> str:
    """``"cannot classify:\n  text 1: ...\n  text 2: ..."`` -> ``"cannot classify: text 1: ...; text 2: ..."``,
    each line cut to :data:`LINE_LIMIT` characters (the predictor names at most :data:`FEW` texts here)."""
    head, *rest = [_bounded(line.strip()) for line in message.splitlines() if line.strip()]
    return f"{head} {'; '.join(rest)}" if rest else head


def _checkpoint_info(path: Path) -> dict[str, Any]:
    """The checkpoint's model and data settings, and the test metrics its run wrote (if the run tested it)."""
    hyper_parameters = read_checkpoint(path).get("hyper_parameters", {})
    model = {key: value for key, value in hyper_parameters.items() if not key.startswith("_")}
    summary_file = path.parent.parent / "run_summary.json"
    test = None
    if summary_file.is_file():
        summary = json.loads(summary_file.read_text())
        tested = summary.get("best_checkpoint")
        test = {"checkpoint": Path(tested).name if tested else None, "metrics": summary.get("test")}
    return {"path": str(path), "model": _plain(model), "data": _plain(data_settings(path)), "run_test": test}


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready: anything that is not a plain value becomes its text."""
    return json.loads(json.dumps(values, default=str))
