"""The HTTP/1.1 example server of docs/networking.md, against real HTTP clients: httpx (kept
alive over one connection) and curl (where it is installed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tinyio

sys.path.insert(0, str(Path(__file__).parent))
from test_docs_examples import ROOT, extract_examples


def http_example() -> dict[str, object]:
    """The example's definitions (its `if __name__ == "__main__":` demo does not run)."""
    text = (ROOT / "docs" / "networking.md").read_text(encoding="utf-8")
    (example,) = [e for e in extract_examples(text, "networking.md") if "def handle(" in e.source]
    namespace: dict[str, object] = {"__name__": "http_example"}
    exec(compile(example.source, "docs/networking.md (HTTP example)", "exec"), namespace)
    return namespace


def serve_while(client, *args):
    """Run the example server on 127.0.0.1, call `client(port, *args)` in a thread, stop."""
    handle = http_example()["handle"]
    connections = []

    def counting(stream):
        connections.append(stream)
        yield from handle(stream)  # pyright: ignore

    def main():
        listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        server = tinyio.serve_listeners(counting, listeners)
        yield {server}
        try:
            return (yield tinyio.run_in_thread(client, port, *args))
        finally:
            yield tinyio.cancel(server)

    return tinyio.Loop().run(main()), len(connections)


def test_httpx_gets_its_answers_over_one_kept_alive_connection():
    httpx = pytest.importorskip("httpx")

    def client(port):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as session:
            first = session.get("/")
            echoed = session.post("/echo", content=b"x" * 100000)
            missing = session.get("/missing")
            head = session.head("/")
        return [
            (first.status_code, first.text),
            (echoed.status_code, len(echoed.content)),
            (missing.status_code, missing.text),
            (head.status_code, head.headers["content-length"], head.content),
        ]

    results, connections = serve_while(client)
    assert results == [
        (200, "hello from tinyio\n"),
        (200, 100000),
        (404, "not found\n"),
        (200, "18", b""),
    ]
    assert connections == 1


def test_curl_gets_its_answers_and_closes():
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")

    def client(port):
        url = f"http://127.0.0.1:{port}"
        completed = subprocess.run(
            [curl, "-s", "-S", "--max-time", "10", url + "/", "-d", "posted", url + "/echo"],
            capture_output=True,
            timeout=30,
            check=True,
        )
        return completed.stdout

    (output, connections) = serve_while(client)
    # curl with two URLs reuses the connection; `-d` applies to both (a POST to "/" is 404).
    assert output in (b"not found\nposted", b"hello from tinyio\nposted")
    assert connections == 1


def test_a_malformed_request_gets_400_and_the_connection_closes():
    def client(port):
        import socket

        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"NONSENSE\r\n\r\n")
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
        return b"".join(chunks)

    response, _ = serve_while(client)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close" in response
