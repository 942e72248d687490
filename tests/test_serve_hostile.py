"""``lightning-seq serve`` against a stranger's requests, over real sockets: text that is not valid Unicode, a
DNS-rebinding Host, huge texts echoed back, half-sent heads and bodies, too many connections, and /docs offline.
Every refusal is a one-line ``{"detail": ...}`` and the server goes on serving."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lightning_seq.cli.serve import main as serve_main

from .helpers.tiny_text_run import fit_tiny_run
from .test_serve import Server, httpx

HEADER_TIMEOUT, BODY_TIMEOUT, LIMIT_CONCURRENCY, MAX_HEADER_BYTES = 1.5, 1.5, 12, 8192


@pytest.fixture(scope="module")
def server(gru_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve-hostile") / "server.log"
    running = Server(
        gru_checkpoint, log,
        "--allowed_hosts", "Proxy.Example", "--header_timeout", str(HEADER_TIMEOUT),
        "--body_timeout", str(BODY_TIMEOUT), "--limit_concurrency", str(LIMIT_CONCURRENCY),
        "--max_header_bytes", str(MAX_HEADER_BYTES),
    )  # fmt: skip
    yield running
    assert running.stop() == 0, log.read_text()[-3000:]


def post(server: Server, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Raw bytes to ``/predict``: the status and the one-line detail (asserted to be one line of JSON)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", "/predict", body, {"content-type": "application/json", **(headers or {})})
        response = connection.getresponse()
        status, payload = response.status, response.read()
    finally:
        connection.close()
    detail = json.loads(payload)["detail"] if status != 200 else ""
    assert isinstance(detail, str) and "\n" not in detail, payload[:500]
    return status, detail


def texts_served(server: Server) -> int:
    return httpx.get(f"{server.url}/health", timeout=10).json()["texts"]


def still_serving(server: Server) -> None:
    assert server.predict(["wheat prices rose"]).status_code == 200


def raw_exchange(server: Server, data: bytes, wait: float) -> tuple[bytes, float]:
    """Send ``data`` and nothing more; what the server sends until it closes the connection, and when it closed."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as connection:
        if data:
            connection.sendall(data)
        received = b""
        while chunk := connection.recv(65536):  # a socket.timeout here: the server held the connection open
            received += chunk
    return received, time.monotonic() - started


def status_and_detail(raw: bytes) -> tuple[int, str]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["detail"]


@pytest.mark.parametrize(
    ("what", "body"),
    [
        ("a JSON escape", json.dumps({"texts": ["wheat exports \ud800 rose"]}).encode()),
        ("raw bytes ED A0 80", b'{"texts": ["wheat exports \xed\xa0\x80 rose"]}'),
    ],
)
def test_a_lone_surrogate_is_refused_with_422_before_the_model_runs(server: Server, what: str, body: bytes) -> None:
    before = texts_served(server)
    status, detail = post(server, body)
    assert status == 422, detail
    assert detail.startswith("texts[0]: not valid Unicode: a lone surrogate '\\ud800' at character 14 (of 20)")
    assert texts_served(server) == before  # refused at the edge: the model never saw it
    still_serving(server)


def test_other_undecodable_bodies_and_odd_field_names_are_one_line_4xx_not_500(server: Server) -> None:
    status, detail = post(server, b'{"texts": ["wheat \xff rose"]}')  # a byte that is not UTF-8
    assert (status, detail) == (
        400,
        'the body is not UTF-8 JSON; send UTF-8 text such as {"texts": ["..."], "top_k": 3}',
    )
    status, detail = post(server, json.dumps({"texts": ["wheat"], "\ud800": 1}).encode())  # a surrogate as a key
    assert status == 422 and detail.startswith("body: Input should be a valid string, unable to parse"), detail
    still_serving(server)


def test_a_huge_text_is_not_echoed_back_whole(server: Server) -> None:
    spaces = " " * 4_000_000
    status, detail = post(server, json.dumps({"texts": ["wheat prices", spaces]}).encode())
    assert status == 422 and len(detail) < 400, detail[:500]
    assert detail.startswith("cannot classify: text 2: empty text '    ")
    assert detail.endswith("'...: it has no words (after removing punctuation) to classify")  # a short excerpt

    words = ["qqzx" * 2_500] * 200  # 200 texts of one unknown 10,000-character word
    status, detail = post(server, json.dumps({"texts": words}).encode())
    assert status == 422 and len(detail) < 2000 and detail.endswith("and 195 more texts"), detail[:2500]

    status, detail = post(server, json.dumps({"texts": ["wheat"], "x" * 1_000_000: 1}).encode())
    assert status == 422 and len(detail) < 400, detail[:500]
    assert detail.startswith("'xxxxxxxx") and "... (1,000,000 chars): Extra inputs are not permitted" in detail
    still_serving(server)


def test_docs_loads_swagger_ui_from_this_server_only(server: Server) -> None:
    page = httpx.get(f"{server.url}/docs", timeout=10)
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert not re.search(r"https?://|//[a-z]", page.text, re.IGNORECASE), page.text  # no CDN, no other site
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
    for asset in assets:
        answer = httpx.get(f"{server.url}{asset}", timeout=10)
        assert answer.status_code == 200 and len(answer.content) > 1000, asset
    assert "'validatorUrl': None" in page.text.replace('"', "'").replace("null", "None")  # no call to swagger.io
    assert httpx.get(f"{server.url}/redoc", timeout=10).status_code == 404  # its page would load a CDN script
    assert httpx.get(f"{server.url}/openapi.json", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("localhost:{port}", 200), ("127.0.0.1:{port}", 200), ("[::1]:{port}", 200), ("LOCALHOST", 200),
        ("proxy.example", 200),  # --allowed_hosts, any case
        ("evil.example:{port}", 400), ("evil.example", 400), ("localhost.evil.example", 400), ("127.0.0.2", 400),
    ],
)  # fmt: skip
def test_only_local_host_names_and_allowed_hosts_are_served(server: Server, host: str, status: int) -> None:
    header = host.format(port=server.port)
    status_got, detail = post(server, json.dumps({"texts": ["wheat prices rose"]}).encode(), {"host": header})
    assert status_got == status, detail
    if status == 400:
        assert detail.startswith(f"Host '{header}': this server answers to localhost, 127.0.0.1, [::1], proxy.example")
        assert detail.endswith("start it with --allowed_hosts NAME")


def test_a_half_sent_body_gets_408_after_body_timeout(server: Server) -> None:
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\ncontent-type: application/json\r\n"
        "content-length: 100\r\n\r\n"
    )
    received, took = raw_exchange(server, head.encode() + b'{"texts": ["wh', wait=BODY_TIMEOUT + 20)
    status, detail = status_and_detail(received)
    assert status == 408 and detail.startswith(f"the body did not arrive within {BODY_TIMEOUT:g} s (--body_timeout"), (
        detail
    )
    assert BODY_TIMEOUT - 0.1 < took < BODY_TIMEOUT + 15  # answered, then closed (the read above saw the end)
    still_serving(server)


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: appl"],
    ids=["nothing", "half a head"],
)
def test_a_connection_that_does_not_send_its_head_is_closed_after_header_timeout(server: Server, sent: bytes) -> None:
    received, took = raw_exchange(server, sent, wait=HEADER_TIMEOUT + 20)
    assert status_and_detail(received) == (
        408,
        f"the request line and headers took over {HEADER_TIMEOUT:g} s (--header_timeout)",
    )
    assert HEADER_TIMEOUT - 0.1 < took < HEADER_TIMEOUT + 15


def test_a_head_over_max_header_bytes_gets_431(server: Server) -> None:
    """Sent in two parts, as a head larger than one network read arrives; neither part alone passes the limit."""
    part = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nx-filler: {'a' * (MAX_HEADER_BYTES * 3 // 4)}".encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as connection:
        connection.sendall(part)
        time.sleep(0.3)
        connection.sendall(b"a" * (MAX_HEADER_BYTES * 3 // 4))
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    assert status_and_detail(received) == (
        431,
        f"the request line and headers passed {MAX_HEADER_BYTES:,} bytes (--max_header_bytes)",
    )
    still_serving(server)


def test_a_whole_head_over_max_header_bytes_in_one_write_gets_431_and_one_within_it_is_served(server: Server) -> None:
    """A head that arrives in one read was never counted (a 70 KB head passed a 1,000-byte limit)."""
    for filler, expected in ((MAX_HEADER_BYTES * 2, 431), (MAX_HEADER_BYTES // 2, 200)):
        head = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nx-filler: {'a' * filler}\r\nConnection: close\r\n\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as connection:
            connection.sendall(head.encode())
            received = b""
            while chunk := connection.recv(65536):
                received += chunk
        assert received.startswith(f"HTTP/1.1 {expected} ".encode()), received[:200]
    still_serving(server)


def test_past_limit_concurrency_a_request_gets_503_until_idle_connections_are_closed(server: Server) -> None:
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=20) for _ in range(LIMIT_CONCURRENCY)]
    try:
        time.sleep(0.3)  # the server has accepted them
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 503
        time.sleep(HEADER_TIMEOUT + 0.5)  # each idle one is answered 408 and closed
        assert all(connection.recv(100).startswith(b"HTTP/1.1 408") for connection in idle)
    finally:
        for connection in idle:
            connection.close()
    still_serving(server)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--allowed_hosts", "http://proxy.example"], "--allowed_hosts 'http://proxy.example': give a host name"),
        (["--allowed_hosts", "proxy.example:8080"], "without scheme or port"),
        (["--allowed_hosts", "a*.example.com"], "*.example.com for its subdomains, or * for any"),
        (["--allowed_hosts", "*."], "*.example.com for its subdomains, or * for any"),  # it matched nothing
        (["--header_timeout", "0"], 'Parser key "header_timeout"'),
        (["--body_timeout", "7200"], 'Parser key "body_timeout"'),
        (["--limit_concurrency", "0"], 'Parser key "limit_concurrency"'),
        (["--max_header_bytes", "-1"], 'Parser key "max_header_bytes"'),
        (["--keep_alive_timeout", "x"], 'Parser key "keep_alive_timeout"'),
    ],
)
def test_bad_limits_and_host_names_are_one_line_and_exit_2(
    gru_checkpoint: Path, args: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_:
        serve_main(["--ckpt", str(gru_checkpoint), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and message in err[0], err


def test_a_two_label_model_answers_a_request_that_names_no_top_k(tmp_path: Path) -> None:
    """The default ``top_k`` is 3 capped at the model's labels: a two-label model answers with both, not a 422."""
    from fastapi.testclient import TestClient

    from lightning_seq.serve.app import create_app
    from lightning_seq.serve.settings import ServeSettings

    checkpoint = fit_tiny_run(tmp_path)
    with TestClient(create_app(ServeSettings((str(checkpoint),))), base_url="http://localhost") as client:
        response = client.post("/predict", json={"texts": ["wheat corn harvest"]})
        assert response.status_code == 200, response.text
        assert [entry["label"] for entry in response.json()["predictions"][0]["top_k"]] == ["grain", "earn"]
        refused = client.post("/predict", json={"texts": ["wheat"], "top_k": 3})  # named: still checked
        assert refused.status_code == 422 and "top_k must be in [1, 2], got 3" in refused.text


def test_a_server_bound_to_every_interface_answers_any_host_unless_allowed_hosts_names_them() -> None:
    """Clients of a 0.0.0.0 server come by IP address, a container's name or a probe's: none can be known here."""
    from lightning_seq.cli.serve import allowed_hosts

    assert allowed_hosts("0.0.0.0", ()) == allowed_hosts("::", ()) == ("*",)
    named = allowed_hosts("0.0.0.0", ("API.example",))
    assert "*" not in named and {"localhost", "127.0.0.1", "[::1]", "api.example"} <= set(named)
    assert allowed_hosts("127.0.0.1", ()) == ("localhost", "127.0.0.1", "[::1]")
    assert "10.1.2.3" in allowed_hosts("10.1.2.3", ())  # a bind to one address answers to that address
