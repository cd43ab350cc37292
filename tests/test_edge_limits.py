"""Limits at the edge (api/edge.py), against a real `dataledger serve`: oversized or endless
headers, too many of them, slow headers and bodies, too many connections from one address; and
the memory a burst of oversized headers can make the server hold."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from api.edge import EdgeLimits
from tests.test_cli import Server, start_server

LIMITS = {
    "DATALEDGER_MAX_HEADER_BYTES": "8192",
    "DATALEDGER_MAX_HEADERS": "40",
    "DATALEDGER_HEADER_TIMEOUT": "1",
    "DATALEDGER_BODY_TIMEOUT": "1",
    "DATALEDGER_MAX_CONNECTIONS_PER_CLIENT": "70",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("edge") / "data"
    data_dir.mkdir()
    running = start_server(f"sqlite:///{data_dir / 'db.sqlite'}", data_dir, env=LIMITS)
    yield running
    running.stop()


def _address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def _exchange(server: Server, raw: bytes, timeout: float = 10.0) -> tuple[int, dict[str, object]]:
    """Send `raw`, read until the server closes; the status and the problem document."""
    with socket.create_connection(_address(server), timeout=timeout) as sock:
        # The server may answer and close before we finish sending.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body.startswith(b"{") else {}


def test_oversized_headers_get_431_before_any_handler(server: Server) -> None:
    raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    status, problem = _exchange(server, raw)
    assert status == 431
    assert problem["type"] == "urn:dataledger:problem:headers-too-large"
    assert "8192 bytes" in str(problem["detail"])


def test_endless_headers_are_cut_off_not_buffered(server: Server) -> None:
    """64 MiB of one header got 200 before; the server now stops reading after the limit."""
    with socket.create_connection(_address(server), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent, answer = 0, b""
        try:
            while sent < 64 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(65536)
        except ConnectionResetError:
            answer = b""
    assert sent < 4 * 1024 * 1024  # refused long before the 64 MiB were sent
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431")


def test_too_many_header_fields_get_431(server: Server) -> None:
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(41))
    status, problem = _exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert status == 431
    assert problem["type"] == "urn:dataledger:problem:too-many-headers"


def test_headers_within_the_limits_still_work(server: Server) -> None:
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(30))
    raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + fields + b"\r\n"
    status, _ = _exchange(server, raw)
    assert status == 200


def test_keep_alive_requests_each_get_their_own_limit(server: Server) -> None:
    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 6000 + b"\r\n\r\n"
    with socket.create_connection(_address(server), timeout=10) as sock:
        for _ in range(3):  # 18 kB in all, each request under 8 kB
            sock.sendall(one)
            answer = b""
            while not answer.endswith(b'{"status":"ok"}'):  # head and body may come apart
                chunk = sock.recv(65536)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")


def test_slow_headers_get_408(server: Server) -> None:
    started = time.monotonic()
    status, problem = _exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never ends
    assert status == 408
    assert problem["type"] == "urn:dataledger:problem:request-timeout"
    assert time.monotonic() - started < 5


def test_a_silent_connection_is_closed(server: Server) -> None:
    status, _ = _exchange(server, b"")
    assert status == 408


def test_a_slow_body_gets_408(server: Server) -> None:
    raw = (
        b"POST /v1/parties HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    status, problem = _exchange(server, raw)
    assert status == 408
    assert "body" in str(problem["detail"])


def test_connections_per_client_address_are_capped(server: Server) -> None:
    held = [socket.create_connection(_address(server), timeout=10) for _ in range(70)]
    try:
        with socket.create_connection(_address(server), timeout=10) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = extra.recv(65536)
        assert answer.startswith(b"HTTP/1.1 503")
        assert b"too-many-connections" in answer
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the count goes down as they close
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        raise AssertionError("the server did not take connections again")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_memory_stays_bounded_under_64_connections_of_oversized_headers(server: Server) -> None:
    """The attack that took a server from 250 to 1,363 MiB: 32 MiB of unfinished headers on
    each connection (here 64 connections, each offering 8 MiB)."""
    before = _rss_kib(server.process.pid)

    def flood(_: int) -> int:
        sent = 0
        with socket.create_connection(_address(server), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            try:
                while sent < 8 * 1024 * 1024:
                    sock.sendall(b"a" * 65536)
                    sent += 65536
            except OSError:
                pass
        return sent

    with ThreadPoolExecutor(64) as pool:
        sent = list(pool.map(flood, range(64)))
    after = _rss_kib(server.process.pid)
    print(f"RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB; sent {sum(sent) / 2**20:.0f} MiB")
    assert max(sent) < 4 * 1024 * 1024
    assert after - before < 64 * 1024  # under 64 MiB more, for 64 connections


def test_limits_come_from_the_environment() -> None:
    limits = EdgeLimits.from_env(LIMITS)
    assert limits == EdgeLimits(8192, 40, 1.0, 1.0, 70)
    assert EdgeLimits.from_env({}) == EdgeLimits()
