"""The local HTTP server (`make run`): concurrent clients, unknown methods, bodiless answers.

The server runs in-process on a free port, in a thread, on the tests' moto backend."""
from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any, Iterator

import pytest

from devstack.harness import free_port
from tests.conftest import ROOT

CLIENTS = 40


@pytest.fixture(scope="module")
def config() -> Any:
    from chalice.cli.factory import CLIFactory

    return CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="dev")


@pytest.fixture(scope="module")
def server(app, config) -> Iterator[int]:
    from devstack import server as devserver

    port = free_port()
    running = devserver.make_server(app, config, "127.0.0.1", port, on_clock=lambda seconds: {"now": "test"})
    thread = devserver.serve_in_thread(running)
    yield port
    running.server.shutdown()
    running.server.server_close()
    thread.join(timeout=10)


def request(port: int, method: str, path: str, body: Any = None, key: str | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    reply = connection.getresponse()
    reply.read()
    connection.close()
    return reply


def raw_exchange(port: int, start: threading.Barrier) -> bytes:
    """One client: connect when every client is ready, send a request, read the answer to the end."""
    start.wait()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_forty_clients_at_once_all_get_a_full_answer(server):
    start = threading.Barrier(CLIENTS)
    answers: list[bytes | BaseException] = [b""] * CLIENTS

    def client(n: int) -> None:
        try:
            answers[n] = raw_exchange(server, start)
        except OSError as error:  # ConnectionResetError, BrokenPipeError, a refused connect
            answers[n] = error

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    failed = [a for a in answers if not (isinstance(a, bytes) and a.startswith(b"HTTP/1.1 200"))]
    assert not failed, f"{len(failed)} of {CLIENTS} clients got no full answer: {failed[:3]}"
    for answer in answers:
        assert isinstance(answer, bytes)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert json.loads(body)["status"] == "ok"


def test_forty_connections_wait_for_a_busy_server_instead_of_being_dropped(app, config):
    """While no thread accepts, the kernel queues connections up to the listen backlog and
    drops the rest (the client then retries after a second or more, or sees a reset).
    A connect that is not done within 0.9 s was dropped: on loopback a queued one is instant."""
    from devstack import server as devserver

    port = free_port()
    busy = devserver.make_server(app, config, "127.0.0.1", port, on_clock=lambda seconds: {"now": "test"})
    sockets: list[socket.socket] = []
    thread = None
    try:
        for _ in range(CLIENTS):
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=0.9))
        thread = devserver.serve_in_thread(busy)
        for sock in sockets:
            sock.settimeout(30)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answers = [b"".join(iter(lambda sock=sock: sock.recv(65536), b"")) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
        if thread is not None:  # shutdown() waits for serve_forever, so only once it runs
            busy.server.shutdown()
            thread.join(timeout=10)
        busy.server.server_close()

    assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers)


@pytest.mark.parametrize("method", ["FOO", "TRACE", "CONNECT"])
def test_an_unknown_method_is_a_405_problem_naming_the_allowed_ones(server, method):
    reply = request(server, method, "/health")

    assert reply.status == 405
    assert reply.getheader("Content-Type") == "application/problem+json"
    assert reply.getheader("Allow") == "GET"
    assert reply.getheader("X-Request-Id")


def test_an_unknown_method_on_an_unknown_path_is_a_404_problem(server):
    reply = request(server, "FOO", "/v1/nothing-here")

    assert reply.status == 404
    assert reply.getheader("Content-Type") == "application/problem+json"


def test_the_connection_stays_usable_after_an_unknown_method(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    connection.request("FOO", "/health", body=b'{"a": 1}', headers={"Content-Type": "application/json"})
    first = connection.getresponse()
    problem = json.loads(first.read())
    connection.request("GET", "/health")
    second = connection.getresponse()

    assert problem["code"] == "method_not_allowed" and "FOO" in problem["detail"]
    assert second.status == 200 and json.loads(second.read())["status"] == "ok"
    connection.close()


def test_a_204_has_no_content_type_and_no_body(server, workspace):
    created = workspace.api.post("/v1/api-keys", {"name": "gone", "role": "viewer"}, key=workspace.admin_key).json

    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    connection.request("DELETE", f"/v1/api-keys/{created['id']}", headers={"Authorization": f"Bearer {workspace.admin_key}"})
    reply = connection.getresponse()

    assert reply.status == 204
    assert reply.getheader("Content-Type") is None
    assert reply.getheader("Content-Length") is None
    assert reply.read() == b""
    assert reply.getheader("X-Request-Id")
    connection.request("GET", "/health")  # the connection is still in step
    assert connection.getresponse().status == 200
    connection.close()


def test_head_and_options_on_known_paths_are_not_server_errors(server, workspace):
    head = request(server, "HEAD", "/v1/workspace", key=workspace.admin_key)
    options = request(server, "OPTIONS", "/v1/profiles")

    assert head.status < 500 and head.read() == b""
    assert options.status == 200
    assert "GET" in options.getheader("Access-Control-Allow-Methods")


def test_head_answers_carry_no_body_on_a_kept_alive_connection(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    connection.request("HEAD", "/health")
    head = connection.getresponse()
    head.read()
    # Were a body sent after the HEAD answer, it would be read as the next status line.
    connection.request("GET", "/health")
    second = connection.getresponse()

    assert head.status < 500
    assert second.status == 200 and json.loads(second.read())["status"] == "ok"
    connection.close()


def test_the_local_clock_route_allows_only_post(server):
    reply = request(server, "FOO", "/_local/clock")

    assert reply.status == 405 and reply.getheader("Allow") == "POST"
