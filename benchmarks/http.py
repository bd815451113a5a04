"""HTTP/1.1 keep-alive servers side by side, measured with wrk: the example server of
docs/networking.md on tinyio, the same logic on asyncio streams, and that on uvloop.

    python benchmarks/http.py                     # wrk -t1 -c50 -d5s on each, 3 rounds
    python benchmarks/http.py --smoke             # 1 s of each: does it answer right? (CI)
    python benchmarks/http.py --seconds 10 --connections 100 --rounds 5
    python benchmarks/http.py --markdown /tmp/http.md

Each server runs in a fresh process of its own on 127.0.0.1, port 0. The tinyio server is the
docs page's own code (its `handle`, taken from docs/networking.md and run as it is written);
the asyncio server reuses that example's `parse_head` and `route`, with the connection loop
written again on asyncio streams (`readuntil`, `readexactly`, `write` and `drain`): the same
parsing, the same answers, the same keep-alive rules. uvloop runs the asyncio server.

wrk (`apt-get install wrk`) sends `GET /` over `--connections` kept-alive connections for
`--seconds`, and its Requests/sec is the number. On a machine with 2 cores or more, the server
is pinned to one core and wrk to another (`taskset`, where it is installed), so that neither
takes the other's core; the rounds go server after server, and each server's best round is
kept, which is the least disturbed by other load on the machine. The server's CPU time per
request is printed too, that of the best round and the median of all rounds (less sensitive
to that load than the rate is).

`--smoke` checks that each server answers, with a raw socket (GET, POST /echo, a 404 and
`Connection: close`, over one connection), then keeps one connection busy for 1 s with the raw
socket, never with wrk (which counts a request it waited 2 s for as a failure, as a loaded
machine can make it): the smoke run is the same on every machine, and asserts no timing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOCS = REPO / "docs" / "networking.md"
SERVERS = ["tinyio", "asyncio", "uvloop"]
BASELINES = ["asyncio", "uvloop"]

# ---------------------------------------------------------------------- the servers


def docs_example() -> dict[str, Any]:
    """The definitions of the HTTP example of docs/networking.md (its demo does not run)."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    (source,) = [block for block in blocks if "def handle(" in block]
    namespace: dict[str, Any] = {"__name__": "http_example"}
    exec(compile(source, f"{DOCS} (HTTP example)", "exec"), namespace)
    return namespace


def announce(port: int) -> None:
    print(json.dumps({"port": port}), flush=True)


def serve_tinyio() -> None:
    sys.path.insert(0, str(REPO / "src"))
    import tinyio

    handle = docs_example()["handle"]

    def main():  # type: ignore[no-untyped-def]
        listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        announce(listeners[0].socket.getsockname()[1])
        yield tinyio.serve_listeners(handle, listeners)

    tinyio.Loop().run(main())


def serve_asyncio(use_uvloop: bool) -> None:
    """The docs' `handle`, line for line, on asyncio streams."""
    import asyncio

    example = docs_example()
    max_head, max_body = example["MAX_HEAD"], example["MAX_BODY"]
    reasons, route, parse_head = example["REASONS"], example["route"], example["parse_head"]

    async def respond(
        writer: asyncio.StreamWriter,
        status: int,
        content_type: str,
        body: bytes,
        keep_alive: bool,
        head_only: bool = False,
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {reasons[status]}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        ).encode("latin-1")
        writer.write(head if head_only else head + body)
        await writer.drain()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handle(reader, writer)
        except ConnectionError:
            pass  # the client went away while we answered
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                await respond(writer, 431, "text/plain", b"head too large\n", False)
                return
            except asyncio.IncompleteReadError as error:
                if error.partial:
                    return  # the client went away half-way
                return  # the client closed the connection between requests
            except ConnectionError:
                return
            request = parse_head(head[:-4])
            if request is None:
                await respond(writer, 400, "text/plain", b"bad request\n", False)
                return
            method, path, version, headers = request
            connection = headers.get("connection", "").lower()
            keep_alive = (
                connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            )
            if "transfer-encoding" in headers:
                await respond(writer, 411, "text/plain", b"send a Content-Length\n", False)
                return
            length = headers.get("content-length", "0")
            if not length.isdigit() or int(length) > max_body:
                await respond(writer, 413, "text/plain", b"body too large\n", False)
                return
            try:
                body = (await reader.readexactly(int(length))) if int(length) else b""
            except asyncio.IncompleteReadError:
                return
            status, content_type, content = route(method, path, body)
            await respond(writer, status, content_type, content, keep_alive, method == "HEAD")
            if not keep_alive:
                return

    async def main() -> None:
        server = await asyncio.start_server(
            connection, "127.0.0.1", 0, limit=max_head, backlog=4096
        )
        announce(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def run_server(name: str) -> None:
    if name == "tinyio":
        serve_tinyio()
    elif name in ("asyncio", "uvloop"):
        serve_asyncio(name == "uvloop")
    else:
        raise SystemExit(f"unknown server {name!r}")


# ---------------------------------------------------------------------- the clients


def exchange(sock: socket.socket, request: bytes, pending: bytearray) -> tuple[str, bytes]:
    """Send one request; its response's status line and body (`pending`: bytes read past the
    previous response)."""
    sock.sendall(request)
    while b"\r\n\r\n" not in pending:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection before answering")
        pending += data
    end = pending.index(b"\r\n\r\n") + 4
    head = bytes(pending[:end])
    del pending[:end]
    length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
    while len(pending) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection within a body")
        pending += data
    body = bytes(pending[:length])
    del pending[:length]
    return head.split(b"\r\n")[0].decode(), body


def check_answers(port: int) -> None:
    """The answers of the docs example, over one kept-alive connection, then the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        pending = bytearray()
        got = [
            exchange(sock, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", pending),
            exchange(sock, b"POST /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nping", pending),
            exchange(sock, b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n", pending),
        ]
        closed = sock.recv(1) == b""
    expected = [
        ("HTTP/1.1 200 OK", b"hello from tinyio\n"),
        ("HTTP/1.1 200 OK", b"ping"),
        ("HTTP/1.1 404 Not Found", b"not found\n"),
    ]
    if got != expected or not closed:
        raise AssertionError(f"wrong answers: {got} (closed: {closed})")


def socket_requests(port: int, seconds: float) -> float:
    """Requests per second of one kept-alive connection, request after request, for
    `seconds` (the smoke run's stand-in for wrk)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        pending = bytearray()
        count = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            status, _ = exchange(sock, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", pending)
            if status != "HTTP/1.1 200 OK":
                raise AssertionError(f"wrong answer: {status}")
            count += 1
    return count / elapsed


def parse_wrk(output: str) -> float:
    """wrk's Requests/sec; an error if it counted failures (socket errors, not 2xx)."""
    found = re.search(r"^Requests/sec:\s+([\d.]+)", output, flags=re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{output}")
    for failure in (r"^\s*Non-2xx or 3xx responses: (\d+)", r"^\s*Socket errors: (.*)$"):
        bad = re.search(failure, output, flags=re.MULTILINE)
        if bad is not None:
            raise RuntimeError(f"wrk counted failures ({bad[0].strip()}):\n{output}")
    return float(found[1])


# ---------------------------------------------------------------------- orchestration


def pinned(command: list[str], core: int | None) -> list[str]:
    return command if core is None else ["taskset", "-c", str(core), *command]


def cores_to_pin() -> tuple[int | None, int | None]:
    """(the server's core, wrk's core), or Nones where pinning cannot help or be done."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2 or shutil.which("taskset") is None:
        return None, None
    return cores[0], cores[1]


def start_server(name: str, core: int | None) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        pinned([sys.executable, __file__, "--run-server", name], core),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line:
        server.wait()
        raise RuntimeError(f"the {name} server did not start")
    return server, int(json.loads(line)["port"])


def stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_command(port: int, connections: int, seconds: float, threads: int) -> list[str]:
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        f"http://127.0.0.1:{port}/",
    ]


class Run:
    """One measurement: requests per second, and the server's CPU microseconds per request."""

    def __init__(self, rate: float, cpu_us: float) -> None:
        self.rate = rate
        self.cpu_us = cpu_us


def measure(name: str, args: argparse.Namespace, cores: tuple[int | None, int | None]) -> Run:
    server, port = start_server(name, cores[0])
    try:
        check_answers(port)
        before = cpu_seconds(server.pid)
        start = time.perf_counter()
        if args.use_wrk:
            command = wrk_command(port, args.connections, args.seconds, args.threads)
            done = subprocess.run(
                pinned(command, cores[1]),
                capture_output=True,
                text=True,
                timeout=args.seconds + 60,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stderr}")
            rate = parse_wrk(done.stdout)
        else:
            rate = socket_requests(port, args.seconds)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(server.pid) - before
        check_answers(port)  # still answering right after the load
    finally:
        stop(server)
    return Run(rate, cpu / max(1.0, rate * elapsed) * 1e6)


def available(name: str) -> bool:
    if name != "uvloop":
        return True
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def table(
    best: dict[str, Run], cpu: dict[str, list[float]], args: argparse.Namespace, pinning: str
) -> list[str]:
    client = (
        f"`wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s`"
        if args.use_wrk
        else f"one raw-socket connection for {args.seconds:g} s"
    )
    bases = [base for base in BASELINES if base in best]
    lines = [
        f"HTTP/1.1 keep-alive, `GET /`, {client}; best of {args.rounds} round(s); {pinning}; "
        f"{load()} at the end:",
        "",
        "| server | requests/s | "
        + "".join(f"ratio to {base} | " for base in bases)
        + "server CPU per request (µs), that round | median of the rounds |",
        "| --- | --- | " + "--- | " * len(bases) + "--- | --- |",
    ]
    for name, run in best.items():
        ratios = "".join(f"{run.rate / best[base].rate:.2f}x | " for base in bases)
        median = statistics.median(cpu[name])
        lines.append(f"| {name} | {run.rate:,.0f} | {ratios}{run.cpu_us:.0f} | {median:.1f} |")
    return lines


def main() -> int:
    # This file's folder is first on sys.path, and this file is named like the standard
    # library's `http`: leave the folder out, so that whatever imports `http` later (the
    # servers' libraries) gets the real one.
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="1 s of each: do they answer?")
    parser.add_argument("--seconds", type=float, default=5.0, help="per run (default 5)")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c (default 50)")
    parser.add_argument("--threads", type=int, default=1, help="wrk -t (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each server (default 3)")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and wrk")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--run-server", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_server:
        run_server(args.run_server)
        return 0

    has_wrk = shutil.which("wrk") is not None
    if args.smoke:
        # Always the raw socket, wrk or not: the smoke run checks answers, the same way on
        # every machine, and never fails on a timing (wrk counts a request it waited 2 s for
        # as a failure, as a loaded machine can make it).
        args.seconds, args.rounds = 1.0, 1
        args.connections = min(args.connections, 10)
        has_wrk = False
    elif not has_wrk:
        raise SystemExit("wrk is not installed (apt-get install wrk); --smoke runs without it")
    args.use_wrk = has_wrk
    cores = (None, None) if args.no_pin else cores_to_pin()
    if cores[1] is not None and not args.use_wrk:
        os.sched_setaffinity(0, {cores[1]})  # this process is the client
    pinning = (
        f"server on core {cores[0]}, client on core {cores[1]} (taskset)"
        if cores[0] is not None
        else "not pinned"
    )

    servers = [s for s in args.servers.split(",") if s]
    for name in [s for s in servers if not available(s)]:
        print(f"skipped {name}: not installed", file=sys.stderr)
        servers.remove(name)
    best: dict[str, Run] = {}
    cpu: dict[str, list[float]] = {name: [] for name in servers}
    for round_ in range(args.rounds):
        for name in servers:
            run = measure(name, args, cores)
            print(
                f"round {round_ + 1}: {name:8} {run.rate:>10,.0f} requests/s, "
                f"server CPU {run.cpu_us:.0f} us/request",
                file=sys.stderr,
            )
            cpu[name].append(run.cpu_us)
            if name not in best or run.rate > best[name].rate:
                best[name] = run
    lines = table(best, cpu, args, pinning)
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
