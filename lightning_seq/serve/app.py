"""The FastAPI application: ``POST /predict``, ``GET /health``, ``GET /info``, the page at ``/`` and ``/docs``.

Every bad request is answered with a 4xx and ``{"detail": "<one line>"}``; the server goes on serving. The model is
loaded once per worker process (uvicorn's ``--workers``), and each worker batches its concurrent requests
(:mod:`lightning_seq.serve.batcher`).
"""

from __future__ import annotations

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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lightning_seq.checkpoint_file import read_checkpoint
from lightning_seq.errors import UserError
from lightning_seq.inference.loading import data_settings
from lightning_seq.inference.predictor import TopicPredictor
from lightning_seq.serve.batcher import DynamicBatcher
from lightning_seq.serve.schema import ErrorResponse, PredictRequest, PredictResponse, TextPrediction
from lightning_seq.serve.settings import ServeSettings, default_threads

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": what}
    for code, what in [
        (400, "the body is not JSON"),
        (413, "the body is over the server's size limit"),
        (422, "a field is missing or mistyped, a text is empty or has no known word, or top_k is out of range"),
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

    app = FastAPI(
        title="lightning_seq",
        summary="Topic labels for texts from a trained recurrent classifier.",
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)

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
        try:
            model.check_top_k(request.top_k)
            encoded = model.encode(request.texts)
        except UserError as error:
            raise HTTPException(422, _one_line(str(error))) from None
        try:
            probabilities = await app.state.batcher.probabilities(encoded)
        except UserError as error:  # the model's fault, not the request's (e.g. a checkpoint with NaN weights)
            raise HTTPException(500, _one_line(str(error))) from None
        answers = model.predictions(request.texts, encoded, probabilities, request.top_k)
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


class BodySizeLimit:
    """413 for a body over ``max_bytes``: by its Content-Length before reading, or while reading a chunked one."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": self._message(f"is {int(declared):,} bytes")}, 413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
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
        return JSONResponse({"detail": f"the body is not valid JSON ({context}); send {_EXAMPLE}"}, 400)
    described = "; ".join(f"{_where(problem['loc'])}: {problem['msg']}" for problem in problems)
    return JSONResponse({"detail": f"{described}; send {_EXAMPLE}"}, 422)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": str(error.detail)}, error.status_code, headers=error.headers)


_EXAMPLE = '{"texts": ["..."], "top_k": 3}'


def _where(location: tuple) -> str:
    """``("body", "texts", 2)`` -> ``texts[2]``; the body itself -> ``body``."""
    parts = [str(part) for part in location[1:]] or ["body"]
    return parts[0] + "".join(f"[{part}]" for part in parts[1:])


def _one_line(message: str) -> str:
    """``"cannot classify:\n  text 1: ...\n  text 2: ..."`` -> ``"cannot classify: text 1: ...; text 2: ..."``."""
    head, *rest = [line.strip() for line in message.splitlines() if line.strip()]
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
