"""Echo servers side by side: tinyio streams against asyncio (streams and protocols), uvloop
(streams and protocols) and trio, driven by the same client. Also: memory per idle connection.

    python benchmarks/echo.py                    # 1/10/100 KiB x 10/1,000 connections, 5 s each
    python benchmarks/echo.py --smoke            # 1 KiB x 10 connections, 0.3 s: does it run? (CI)
    python benchmarks/echo.py --seconds 10 --servers tinyio,asyncio-streams
    python benchmarks/echo.py --markdown /tmp/echo.md --plot /tmp/echo.svg
    python benchmarks/echo.py --memory 10000     # memory per idle connection (RSS), each server

Each server runs in a fresh process of its own on 127.0.0.1. The client is one program, the
same for every server, in a process of its own: it opens the connections, then each one sends
a message, waits until the whole message has come back, and sends the next, for `--seconds`;
the result is round trips (requests) per second over all connections. The client runs on
uvloop's protocols when uvloop is there (the fastest Python client we have), else asyncio's,
so that it is never what limits the servers that are slower than it. On a 2-core machine the
client and the server each get a core; other load on the machine shows in every number, so
the ratios (to asyncio streams) are what to read, with the load printed beside them.

Memory: the server accepts N connections that never send; the growth of its RSS, divided by N,
is the memory it pays per idle connection (descriptor, buffers, task or coroutine, stream).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SERVERS = [
    "tinyio",
    "asyncio-streams",
    "asyncio-protocols",
    "uvloop-streams",
    "uvloop-protocols",
    "trio",
]
BASELINE = "asyncio-streams"
SIZES = [1024, 10 * 1024, 100 * 1024]
CONNECTIONS = [10, 1000]

# ---------------------------------------------------------------------- the servers


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def announce(port: int) -> None:
    print(json.dumps({"port": port, "rss": rss_bytes()}), flush=True)


def serve_tinyio() -> None:
    sys.path.insert(0, str(REPO / "src"))
    import tinyio

    def echo(stream):  # type: ignore[no-untyped-def]
        while data := (yield stream.receive_some()):
            yield stream.send_all(data)

    def main():  # type: ignore[no-untyped-def]
        listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        announce(listeners[0].socket.getsockname()[1])
        yield tinyio.serve_listeners(echo, listeners)

    tinyio.Loop().run(main())


def serve_asyncio_streams(use_uvloop: bool) -> None:
    import asyncio

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=4096)
        announce(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    run_asyncio(main(), use_uvloop)


def serve_asyncio_protocols(use_uvloop: bool) -> None:
    import asyncio

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.Transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=4096)
        announce(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    run_asyncio(main(), use_uvloop)


def run_asyncio(main: object, use_uvloop: bool) -> None:
    import asyncio

    if use_uvloop:
        import uvloop

        uvloop.run(main)  # type: ignore[arg-type]
    else:
        asyncio.run(main)  # type: ignore[arg-type]


def serve_trio() -> None:
    import trio

    async def echo(stream: trio.SocketStream) -> None:
        try:
            while data := await stream.receive_some(65536):
                await stream.send_all(data)
        except trio.BrokenResourceError:
            pass

    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1", backlog=4096)
        announce(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(echo, listeners)

    trio.run(main)


def run_server(name: str) -> None:
    if name == "tinyio":
        serve_tinyio()
    elif name.endswith("-streams"):
        serve_asyncio_streams(name.startswith("uvloop"))
    elif name.endswith("-protocols"):
        serve_asyncio_protocols(name.startswith("uvloop"))
    elif name == "trio":
        serve_trio()
    else:
        raise SystemExit(f"unknown server {name!r}")


# ---------------------------------------------------------------------- the client


def run_client(port: int, size: int, connections: int, seconds: float) -> None:
    """Round trips per second over `connections` connections, for `seconds`; prints JSON."""
    import asyncio

    message = b"x" * size

    class Pinger(asyncio.Protocol):
        def __init__(self, done: asyncio.Future[None]) -> None:
            self.received = 0
            self.round_trips = 0
            self.done = done
            self.stopping = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.Transport = transport  # type: ignore[assignment]

        def start(self) -> None:
            self.transport.write(message)

        def data_received(self, data: bytes) -> None:
            self.received += len(data)
            if self.received >= size:
                if self.received != size:
                    raise AssertionError("the server sent more than it was sent")
                self.received = 0
                self.round_trips += 1
                if self.stopping:
                    if not self.done.done():
                        self.done.set_result(None)
                else:
                    self.transport.write(message)

        def connection_lost(self, exc: Exception | None) -> None:
            if not self.done.done():
                self.done.set_exception(ConnectionError(f"the server closed: {exc}"))

    async def main() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        pingers: list[Pinger] = []
        for _ in range(connections):
            done: asyncio.Future[None] = loop.create_future()
            _, pinger = await loop.create_connection(
                lambda done=done: Pinger(done), "127.0.0.1", port
            )
            pingers.append(pinger)
        await asyncio.sleep(0.05)
        print(json.dumps({"phase": "pinging"}), flush=True)
        start = time.perf_counter()
        for pinger in pingers:
            pinger.start()
        await asyncio.sleep(seconds)
        counted = sum(p.round_trips for p in pingers)
        elapsed = time.perf_counter() - start
        for pinger in pingers:
            pinger.stopping = True
        await asyncio.wait_for(asyncio.gather(*(p.done for p in pingers)), 30)
        for pinger in pingers:
            pinger.transport.close()
        return {"requests_per_second": counted / elapsed, "round_trips": counted}

    try:
        import uvloop

        result = uvloop.run(main())
    except ImportError:
        result = asyncio.run(main())
    print(json.dumps(result), flush=True)


def run_idle_clients(port: int, connections: int) -> None:
    """Open `connections` connections that never send; report, then hold them until stdin
    closes."""
    import socket

    socks = []
    for _ in range(connections):
        socks.append(socket.create_connection(("127.0.0.1", port)))
    print(json.dumps({"connected": len(socks)}), flush=True)
    sys.stdin.read()
    for sock in socks:
        sock.close()


# ---------------------------------------------------------------------- orchestration


def available(name: str) -> bool:
    module = {"trio": "trio"}.get(name, "uvloop" if name.startswith("uvloop") else None)
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def start_server(name: str) -> tuple[subprocess.Popen[str], dict[str, int]]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--run-server", name],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line:
        server.wait()
        raise RuntimeError(f"the {name} server did not start")
    return server, json.loads(line)


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


def measure_echo(name: str, size: int, connections: int, seconds: float) -> Echo | None:
    """Requests per second, and the server's CPU time per request (less sensitive to other
    load on the machine than wall-clock rates are)."""
    server, info = start_server(name)
    try:
        client = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--run-client",
                str(info["port"]),
                str(size),
                str(connections),
                str(seconds),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert client.stdout is not None
        assert client.stderr is not None
        started = client.stdout.readline()
        cpu_before = cpu_seconds(server.pid)
        result = client.stdout.readline()
        cpu_after = cpu_seconds(server.pid)
        errors = client.stderr.read()
        status = client.wait(timeout=seconds + 120)
        client.stdout.close()
        client.stderr.close()
    finally:
        stop(server)
    if status != 0 or not started or not result:
        print(f"  {name}: the client failed:\n{errors[-2000:]}", file=sys.stderr)
        return None
    outcome = json.loads(result)
    rate = float(outcome["requests_per_second"])
    return Echo(rate, (cpu_after - cpu_before) / max(1, outcome["round_trips"]) * 1e6)


class Echo:
    """One cell: requests per second, and server CPU microseconds per request."""

    def __init__(self, rate: float, cpu_us: float) -> None:
        self.rate = rate
        self.cpu_us = cpu_us


def descriptors(pid: int) -> int:
    """How many descriptors process `pid` has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def measure_memory(name: str, connections: int) -> float | None:
    server, info = start_server(name)
    try:
        clients = subprocess.Popen(
            [sys.executable, __file__, "--run-idle-clients", str(info["port"]), str(connections)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert clients.stdout is not None
            if not clients.stdout.readline():
                return None
            # Until the server holds a descriptor for each of them (a loaded machine can take
            # seconds to accept 10,000), then a little longer for its handlers to start.
            deadline = time.monotonic() + 60
            while descriptors(server.pid) < connections and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            with open(f"/proc/{server.pid}/statm") as statm:
                rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        finally:
            assert clients.stdin is not None
            clients.stdin.close()
            clients.wait(timeout=60)
            if clients.stdout is not None:
                clients.stdout.close()
    finally:
        stop(server)
    return (rss - info["rss"]) / connections


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="1 KiB x 10 connections, 0.3 s")
    parser.add_argument("--seconds", type=float, default=5.0, help="per cell (default 5)")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--connections", default=",".join(map(str, CONNECTIONS)))
    parser.add_argument("--memory", type=int, metavar="N", help="memory per idle connection")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--plot", type=Path, help="also draw requests/s per cell (.svg, .png)")
    parser.add_argument("--run-server", help=argparse.SUPPRESS)
    parser.add_argument("--run-client", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--run-idle-clients", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_server:
        run_server(args.run_server)
        return 0
    if args.run_client:
        port, size, connections, seconds = args.run_client
        run_client(int(port), int(size), int(connections), float(seconds))
        return 0
    if args.run_idle_clients:
        run_idle_clients(int(args.run_idle_clients[0]), int(args.run_idle_clients[1]))
        return 0

    servers = [s for s in args.servers.split(",") if s]
    skipped = [s for s in servers if not available(s)]
    servers = [s for s in servers if s not in skipped]
    for name in skipped:
        print(f"skipped {name}: not installed", file=sys.stderr)
    lines: list[str] = []
    if args.memory:
        lines += [
            f"Memory per idle connection, {args.memory:,} connections (server RSS growth / N; {load()}):",
            "",
            "| server | KiB per connection |",
            "| --- | --- |",
        ]
        for name in servers:
            per = measure_memory(name, args.memory)
            lines.append(f"| {name} | {'failed' if per is None else f'{per / 1024:.1f}'} |")
            print(lines[-1], file=sys.stderr)
    else:
        sizes = [1024] if args.smoke else [int(s) for s in args.sizes.split(",")]
        counts = [10] if args.smoke else [int(c) for c in args.connections.split(",")]
        seconds = 0.3 if args.smoke else args.seconds
        results: dict[tuple[str, int, int], Echo | None] = {}
        for size in sizes:
            for count in counts:
                for name in servers:
                    results[name, size, count] = cell = measure_echo(name, size, count, seconds)
                    shown = (
                        "failed"
                        if cell is None
                        else f"{cell.rate:,.0f} requests/s, server CPU {cell.cpu_us:.1f} us/request"
                    )
                    print(f"{name:18} {size // 1024:>4} KiB x {count:>5}: {shown}", file=sys.stderr)
        cells = [(size, count) for size in sizes for count in counts]
        header = "| server | " + " | ".join(f"{s // 1024} KiB x {c}" for s, c in cells) + " |"
        rule = "| --- |" + " --- |" * len(cells)
        rates = [
            f"Echo, requests per second (ratio to {BASELINE}); {seconds:g} s per cell; "
            f"{load()} at the end:",
            "",
            header,
            rule,
        ]
        costs = [
            "",
            f"Server CPU time per request, microseconds (ratio to {BASELINE}; lower is better):",
            "",
            header,
            rule,
        ]
        for name in servers:
            rate_row: list[str] = []
            cost_row: list[str] = []
            for size, count in cells:
                cell = results[name, size, count]
                base = results.get((BASELINE, size, count))
                if cell is None:
                    rate_row.append("failed")
                    cost_row.append("failed")
                elif base is not None:
                    rate_row.append(f"{cell.rate:,.0f} ({cell.rate / base.rate:.2f}x)")
                    cost_row.append(
                        f"{cell.cpu_us:.1f} ({cell.cpu_us / max(base.cpu_us, 1e-9):.2f}x)"
                    )
                else:
                    rate_row.append(f"{cell.rate:,.0f}")
                    cost_row.append(f"{cell.cpu_us:.1f}")
            rates.append(f"| {name} | " + " | ".join(rate_row) + " |")
            costs.append(f"| {name} | " + " | ".join(cost_row) + " |")
        lines += rates + costs
        if args.plot:
            plot(results, servers, cells, args.plot)
        if any(rate is None for rate in results.values()):
            print("\n".join(lines))
            return 1
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


def plot(
    results: dict[tuple[str, int, int], Echo | None],
    servers: list[str],
    cells: list[tuple[int, int]],
    path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(servers)
    for index, name in enumerate(servers):
        values = [getattr(results[name, size, count], "rate", 0.0) for size, count in cells]
        positions = [cell + index * width for cell in range(len(cells))]
        axes.bar(positions, values, width, label=name)
    axes.set_xticks([cell + 0.4 - width / 2 for cell in range(len(cells))])
    axes.set_xticklabels([f"{s // 1024} KiB x {c}" for s, c in cells])
    axes.set_ylabel("requests per second")
    axes.set_title("Echo over loopback, the same client for every server")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
