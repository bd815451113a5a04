"""The thin socket wrapper, `tinyio.socket`: datagrams and the raw calls, on loopback."""

from __future__ import annotations

import os
import socket

import pytest

import tinyio


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_descriptor_leaks():
    before = open_fds()
    yield
    assert open_fds() == before, "the test left descriptors open"


def test_udp_echo():
    def server(sock, count):
        for _ in range(count):
            data, address = yield sock.recvfrom(1000)
            yield sock.sendto(data.upper(), address)

    def client(sock, address, texts):
        answers = []
        for text in texts:
            yield sock.sendto(text, address)
            buffer = bytearray(100)
            count = yield sock.recv_into(buffer)
            answers.append(bytes(buffer[:count]))
        return answers

    def main():
        with (
            tinyio.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
            tinyio.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
        ):
            a.bind(("127.0.0.1", 0))
            _, answers = yield [server(a, 3), client(b, a.getsockname(), [b"x", b"yy", b"zzz"])]
            return answers

    assert tinyio.Loop().run(main()) == [b"X", b"YY", b"ZZZ"]


def on_a_tcp_connection(work):
    """Run `work(client, conn)` on both ends of a new TCP connection on 127.0.0.1; its
    result (the sockets are closed after)."""

    def main():
        with tinyio.socket() as listener, tinyio.socket() as client:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            yield client.connect(listener.getsockname())
            conn, _ = yield listener.accept()
            with conn:
                assert isinstance(conn, tinyio.Socket)
                return (yield from work(client, conn))

    return tinyio.Loop().run(main())


def test_tcp_accept_connect_send_recv():
    def work(client, conn):
        yield client.send(b"hello")
        return (yield conn.recv(100))

    assert on_a_tcp_connection(work) == b"hello"


def test_a_send_on_a_full_buffer_waits_until_the_peer_reads():
    chunk = b"x" * 65536

    def sender(sock):
        sent = 0
        while True:  # fill the socket's buffers, as far as they go without waiting
            try:
                sent += sock.socket.send(chunk)
            except BlockingIOError:
                break
        # Full: this `send` waits for room instead of raising BlockingIOError.
        sent += yield sock.send(chunk)
        sock.shutdown(socket.SHUT_WR)
        return sent

    def reader(conn):
        received = 0
        while data := (yield conn.recv(1 << 20)):
            received += len(data)
        return received

    def work(client, conn):
        return (yield [sender(client), reader(conn)])

    sent, received = on_a_tcp_connection(work)
    assert sent == received > len(chunk)


def test_a_recv_with_a_timeout_ends_its_wait():
    def main():
        with tinyio.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            result, finished = yield tinyio.timeout(sock.recv(100), 0.01)
            # Waiting again at once: the first wait left no registration (no Busy).
            yield sock.sendto(b"later", sock.getsockname())
            return result, finished, (yield sock.recv(100))

    assert tinyio.Loop().run(main()) == (None, False, b"later")


def test_closing_wakes_a_waiting_recv():
    def main():
        sock = tinyio.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))

        def receiver():
            try:
                yield from sock.recv(100)
            except tinyio.ClosedResourceError:
                return "closed"

        def closer():
            yield
            sock.close()
            sock.close()  # twice: fine

        result, _ = yield [receiver(), closer()]
        return result

    assert tinyio.Loop().run(main()) == "closed"


def test_a_failed_connect_closes_the_socket():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()  # nobody listens there once closed

    def main():
        sock = tinyio.socket()
        try:
            yield from sock.connect(address)
        except ConnectionRefusedError:
            return sock.fileno()

    assert tinyio.Loop().run(main()) == -1


def test_the_wrapper_refuses_what_is_not_a_socket():
    with pytest.raises(TypeError, match="got 3"):
        tinyio.Socket(3)  # pyright: ignore[reportArgumentType]
