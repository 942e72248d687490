"""``lightning-seq serve``: the real server on a free port, spoken to over HTTP. Answers match ``scripts/predict.py``;
bad requests get one-line 4xx answers and the server goes on; the page works in headless Chromium; SIGTERM lets the
requests in flight finish and exits 0; a killed worker is replaced without a request vanishing unanswered."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import torch

from lightning_seq.cli.predict import main as predict_main
from lightning_seq.cli.serve import main as serve_main
from lightning_seq.data.reuters_text import reuters_wires
from lightning_seq.experiments.serve_load import free_port
from lightning_seq.inference.predictor import TopicPredictor
from lightning_seq.serve.batcher import DynamicBatcher

from .conftest import REPO_ROOT

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The README's command; `python -m lightning_seq` is the same entry point where the console script is not on PATH.
SERVE = (
    [shutil.which("lightning-seq"), "serve"]
    if shutil.which("lightning-seq")
    else [sys.executable, "-m", "lightning_seq", "serve"]
)


class Server:
    """``lightning-seq serve`` in a subprocess, waited for until ``/health`` answers."""

    def __init__(self, checkpoint: Path, log: Path, *options: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [*SERVE, "--ckpt", str(checkpoint), "--port", str(self.port), "--log_level", "warning", *options]
        self.process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.3)
        self.stop()
        pytest.fail(f"the server did not answer /health in 120 s:\n{log.read_text()[-3000:]}")

    def predict(self, texts: list[str], top_k: int = 3, timeout: float = 60) -> httpx.Response:
        return httpx.post(f"{self.url}/predict", json={"texts": texts, "top_k": top_k}, timeout=timeout)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def wires(real_data_dir: Path) -> list[str]:
    return [text for _, text, _ in reuters_wires(str(real_data_dir))["test"][:40]]


@pytest.fixture(scope="module")
def server(gru_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve") / "server.log"
    running = Server(gru_checkpoint, log, "--max_texts", "8", "--max_body_bytes", "65536")
    yield running
    assert running.stop() == 0, log.read_text()[-3000:]


def test_predict_answers_exactly_as_predict_py(
    server: Server, gru_checkpoint: Path, wires: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    texts = [*wires[:6], "Egypt bought 200,000 tonnes of U.S. wheat, exporters said zzqx."]
    response = server.predict(texts, top_k=5)
    assert response.status_code == 200, response.text
    served = response.json()["predictions"]
    lines = tmp_path / "texts.txt"
    lines.write_text("\n".join(texts) + "\n")
    predict_main(["--ckpt", str(gru_checkpoint), "--file", str(lines), "--json", "--top_k", "5"])  # predict.py's
    expected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(served) == len(expected) == len(texts)
    for answer, reference in zip(served, expected, strict=True):
        assert [entry["label"] for entry in answer["top_k"]] == [entry["topic"] for entry in reference["topics"]]
        assert [entry["probability"] for entry in answer["top_k"]] == pytest.approx(
            [entry["probability"] for entry in reference["topics"]], abs=2e-6
        )  # predict.py prints 6 decimals
        assert [entry["label"] for entry in answer["labels"]] == [entry["label"] for entry in reference["labels"]]
        assert answer["unknown_words"] == reference["unknown_words"]
        assert answer["unknown_word_count"] == len(reference["unknown_words"])
        assert (answer["words"], answer["truncated_tokens"]) == (reference["words"], reference["truncated_tokens"])
    assert served[-1]["unknown_words"] == ["zzqx"]


def test_health_info_schema_and_page(server: Server, gru_checkpoint: Path) -> None:
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and health["pid"] > 0
    info = httpx.get(f"{server.url}/info").json()
    assert len(info["labels"]) == 46 and info["labels"][:3] == ["cocoa", "grain", "veg-oil"]
    assert info["vocabulary_size"] == 10000 and info["multi_label"] is False
    (checkpoint,) = info["checkpoints"]
    assert checkpoint["model"]["cell"] == "gru" and checkpoint["data"]["num_words"] == 10000
    assert checkpoint["run_test"]["checkpoint"] == gru_checkpoint.name
    assert 0 < checkpoint["run_test"]["metrics"]["test/acc"] < 1
    assert info["serving"]["max_texts"] == 8
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert set(schema["paths"]) >= {"/predict", "/health", "/info"}
    assert {"texts", "top_k"} == set(schema["components"]["schemas"]["PredictRequest"]["properties"])
    assert httpx.get(f"{server.url}/docs").status_code == 200
    assert "<textarea" in httpx.get(f"{server.url}/").text


BAD_REQUESTS = [
    # (what, body bytes or JSON, status, words the one-line message must hold)
    ("malformed JSON", b'{"texts": ["wheat"', 400, "not valid JSON"),
    ("not an object", [1, 2], 422, "body: Input should be a valid dictionary"),
    ("texts missing", {"text": ["wheat"]}, 422, "texts: Field required; text: Extra inputs are not permitted"),
    ("texts not a list", {"texts": "wheat"}, 422, "texts: Input should be a valid list"),
    ("a text not a string", {"texts": ["wheat", 3]}, 422, "texts[1]: Input should be a valid string"),
    ("no texts", {"texts": []}, 422, "texts is empty"),
    ("an empty text", {"texts": ["wheat prices", "  "]}, 422, "text 2: empty text"),
    ("only unknown words", {"texts": ["qqzx zzvv"]}, 422, "none of its words ['qqzx', 'zzvv'] is in the model's"),
    ("top_k 0", {"texts": ["wheat"], "top_k": 0}, 422, "top_k must be in [1, 46], got 0"),
    ("top_k too large", {"texts": ["wheat"], "top_k": 47}, 422, "top_k must be in [1, 46], got 47"),
    ("top_k a string", {"texts": ["wheat"], "top_k": "3"}, 422, "top_k: Input should be a valid integer"),
    ("too many texts", {"texts": ["wheat"] * 9}, 422, "9 texts in one request; this server takes at most 8"),
    ("body over the limit", {"texts": ["wheat " * 12000]}, 413, "the body is 72,015 bytes; this server takes at most"),
]


@pytest.mark.parametrize(("what", "body", "status", "message"), BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
def test_a_bad_request_gets_one_line_4xx_and_the_server_goes_on(
    server: Server, what: str, body: object, status: int, message: str
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(
        f"{server.url}/predict", content=content, headers={"content-type": "application/json"}, timeout=30
    )
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and message in detail, detail
    assert server.predict(["wheat prices rose"]).status_code == 200  # still serving


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"texts": ["'
        for _ in range(100):
            yield b"wheat " * 200
        yield b'"]}'

    response = httpx.post(f"{server.url}/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "passed 65,536 bytes" in response.json()["detail"]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_the_page_shows_the_top_topics_as_bars_in_headless_chromium(server: Server, wires: list[str]) -> None:
    text = wires[0]
    expected = server.predict([text], top_k=5).json()["predictions"][0]["top_k"]
    page = f"{server.url}/?top_k=5&text={quote(text)}"  # the page classifies a text given in its address
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000", "--dump-dom"]
    dom = subprocess.run([*command, page], capture_output=True, text=True, timeout=120).stdout
    bars = [
        (part.split('data-label="')[1].split('"')[0], float(part.split('data-probability="')[1].split('"')[0]))
        for part in dom.split('<div class="row')[1:]
    ]
    assert [name for name, _ in bars] == [entry["label"] for entry in expected], dom[-2000:]
    assert [p for _, p in bars] == pytest.approx([entry["probability"] for entry in expected])
    assert 'class="row decided"' in dom and "vocabulary of 10,000 ids" in dom


def test_sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits_0(
    gru_checkpoint: Path, wires: list[str], tmp_path: Path
) -> None:
    """Requests wait 2 s in the batcher (--batch_timeout 2), so they are surely in flight when SIGTERM comes."""
    server = Server(gru_checkpoint, tmp_path / "server.log", "--batch_timeout", "2", "--max_batch_size", "100000")
    answers: list[object] = [None] * 6

    def ask(slot: int) -> None:
        try:
            answers[slot] = server.predict(wires[slot : slot + 3])
        except httpx.HTTPError as error:
            answers[slot] = error

    clients = [threading.Thread(target=ask, args=(slot,)) for slot in range(len(answers))]
    started = time.monotonic()
    for client in clients:
        client.start()
    time.sleep(0.7)
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(httpx.ConnectError):  # the listening socket is closed: a new request is refused
        server.predict(["wheat prices rose"])
    for client in clients:
        client.join(timeout=60)
    assert server.process.wait(timeout=60) == 0, (tmp_path / "server.log").read_text()[-3000:]
    for answer in answers:
        assert isinstance(answer, httpx.Response) and answer.status_code == 200, answer
        assert len(answer.json()["predictions"]) == 3
    assert time.monotonic() - started > 1.8  # they were answered after SIGTERM, not before it


def _worker_pids(server: Server, asks: int = 40) -> set[int]:
    """The workers that answer: every /health on a new connection may reach either."""
    return {httpx.get(f"{server.url}/health", timeout=10).json()["pid"] for _ in range(asks)}


def test_a_killed_worker_is_replaced_and_no_request_vanishes(
    gru_checkpoint: Path, wires: list[str], tmp_path: Path
) -> None:
    server = Server(gru_checkpoint, tmp_path / "server.log", "--workers", "2", "--log_level", "info")
    try:
        before = _worker_pids(server)
        assert len(before) == 2, before
        outcomes: list[str] = []
        stop = threading.Event()

        def load(offset: int) -> None:
            while not stop.is_set():  # a new connection per request, as many separate clients would
                try:
                    response = server.predict(wires[offset : offset + 4], timeout=30)
                    ok = response.status_code == 200 and len(response.json()["predictions"]) == 4
                    outcomes.append("ok" if ok else f"http {response.status_code}")
                except httpx.TimeoutException:
                    outcomes.append("timeout")  # a request that got no answer at all
                except httpx.TransportError:
                    outcomes.append("connection error")  # the client is told: the worker died under it

        clients = [threading.Thread(target=load, args=(offset,)) for offset in range(3)]
        for client in clients:
            client.start()
        time.sleep(0.5)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline, replaced = time.monotonic() + 90, set()
        while time.monotonic() < deadline and not replaced:
            time.sleep(1.0)
            replaced = _worker_pids(server, 10) - before
        answered_before_replacement = outcomes.count("ok")
        time.sleep(0.5)
        stop.set()
        for client in clients:
            client.join(timeout=60)
        assert replaced, f"no new worker in 90 s:\n{(tmp_path / 'server.log').read_text()[-3000:]}"
        assert victim not in _worker_pids(server)
        assert "timeout" not in outcomes and not [o for o in outcomes if o.startswith("http")], outcomes
        assert outcomes.count("ok") > answered_before_replacement > 0  # served throughout, and after
    finally:
        assert server.stop() == 0


def test_the_batcher_pools_whole_requests_up_to_max_batch_size_and_answers_each_its_own_rows() -> None:
    batches: list[list[int]] = []

    def run_batch(items: list[int]) -> torch.Tensor:
        batches.append(items)
        return torch.tensor(items, dtype=torch.float32).unsqueeze(1)

    async def scenario() -> list[torch.Tensor]:
        batcher = DynamicBatcher(run_batch, max_batch_size=10, batch_timeout=0.05)
        batcher.start()
        requests = [list(range(start, start + size)) for start, size in [(0, 4), (10, 4), (20, 4), (30, 1), (40, 12)]]
        answers = await asyncio.gather(*(batcher.probabilities(items) for items in requests))
        await batcher.stop()
        return answers

    answers = asyncio.run(scenario())
    assert [len(batch) for batch in batches] == [8, 5, 12]  # 4+4 (a third 4 would pass 10), 4+1, then 12 alone
    assert [answer.flatten().int().tolist() for answer in answers] == [
        list(range(start, start + size)) for start, size in [(0, 4), (10, 4), (20, 4), (30, 1), (40, 12)]
    ]


def test_a_lone_request_waits_at_most_batch_timeout_and_a_failed_batch_fails_only_its_requests() -> None:
    def run_batch(items: list[int]) -> torch.Tensor:
        if -1 in items:
            raise RuntimeError("broken batch")
        return torch.zeros(len(items), 1)

    async def scenario() -> tuple[float, object, torch.Tensor]:
        batcher = DynamicBatcher(run_batch, max_batch_size=100, batch_timeout=0.3)
        batcher.start()
        started = time.monotonic()
        await batcher.probabilities([1, 2])
        waited = time.monotonic() - started
        failed = await asyncio.gather(batcher.probabilities([-1]), return_exceptions=True)
        after = await batcher.probabilities([3])
        await batcher.stop()
        return waited, failed[0], after

    waited, failed, after = asyncio.run(scenario())
    assert 0.25 < waited < 2.0
    assert isinstance(failed, RuntimeError) and after.shape == (1, 1)


def test_an_ensemble_averages_its_members_probabilities(gru_checkpoint: Path, wires: list[str]) -> None:
    last = gru_checkpoint.parent / "last.ckpt"
    members = [TopicPredictor.from_checkpoint(path) for path in (gru_checkpoint, last)]
    ensemble = TopicPredictor.from_checkpoints([gru_checkpoint, last])
    encoded = ensemble.encode(wires[:5])
    expected = (members[0].probabilities(encoded) + members[1].probabilities(encoded)) / 2
    assert torch.allclose(ensemble.probabilities(encoded), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ckpt", "missing.ckpt"], "--ckpt missing.ckpt does not exist"),
        (["--workers", "0"], 'Parser key "workers": Not of type PositiveInt: 0 does not conform to restriction v>0'),
        (["--threads", "-1"], 'Parser key "threads": Not of type NonNegativeInt'),
        (["--port", "70000"], "--port 70000: must be in 1..65535"),
        (["--batch_timeout", "-1"], "--batch_timeout -1.0: must be in [0, 10] seconds"),
        (["--max_texts", "x"], "max_texts"),
        (["--log_level", "loud"], "--log_level loud: choose one of critical, error, warning, info, debug, trace"),
    ],
)
def test_bad_serve_settings_are_one_line_and_exit_2(
    gru_checkpoint: Path, args: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    argv = args if args[0] == "--ckpt" else ["--ckpt", str(gru_checkpoint), *args]
    with pytest.raises(SystemExit) as exit_:
        serve_main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and message in err[0], err


def test_a_port_in_use_is_one_line_before_the_model_loads(gru_checkpoint: Path, capsys: pytest.CaptureFixture):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_:
            serve_main(["--ckpt", str(gru_checkpoint), "--port", str(port)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and err == [
        f"error: --port {port} on 127.0.0.1: Address already in use; choose another --port"
    ]
