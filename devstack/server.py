"""Chalice's local HTTP server, plus the local-only ``POST /_local/clock`` route.

The clock route is served here, outside the Chalice app, so no deployed stage has it.
Beyond Chalice's own server: a listen backlog for many concurrent clients, 405
problem+json for any method the API does not have (not BaseHTTPRequestHandler's 501),
no Content-Type or body on a 204, and no body on a HEAD answer.
"""
from __future__ import annotations

import json
import threading
import uuid
from typing import Any, Callable

from chalice import Chalice
from chalice.local import (ChaliceRequestHandler, LocalChalice, LocalDevServer, RouteMatcher,
                          ThreadedHTTPServer)

from chalicelib.errors import PROBLEM_CONTENT_TYPE, problem
from devstack import gateway

MAX_ADVANCE = 10 * 366 * 86400
# Chalice's ThreadedHTTPServer keeps socketserver's listen backlog of 5: a burst of
# concurrent clients then sees connection resets before a thread accepts them.
LISTEN_BACKLOG = 128
NO_BODY_STATUSES = (204, 304)


class Server(ThreadedHTTPServer):
    request_queue_size = LISTEN_BACKLOG


class Handler(ChaliceRequestHandler):
    app: Chalice
    on_clock: Callable[[float], dict[str, Any]]
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        return

    def _generic_handle(self) -> None:
        if self.path.split("?")[0] == "/_local/clock":
            self._clock()
        else:
            super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler looks up ``do_<METHOD>`` and answers 501 when it is missing.
        if name.startswith("do_"):
            return self._unknown_method
        raise AttributeError(name)

    def _unknown_method(self) -> None:
        self._parse_payload()  # read the body, so the connection stays usable
        path = self.path.split("?")[0]
        if path == "/_local/clock":
            allowed = ["POST"]
        else:
            try:
                route = RouteMatcher(list(self.app.routes)).match_route(path).route
            except ValueError:
                missing = gateway.not_found_response(self.command, path)
                self._send_http_response(404, missing["headers"], missing["body"])
                return
            allowed = sorted(self.app.routes[route])
        detail = f"{self.command} is not a method of {path}; it allows {', '.join(allowed)}"
        headers = {"Content-Type": PROBLEM_CONTENT_TYPE, "Allow": ", ".join(allowed), "X-Request-Id": uuid.uuid4().hex}
        self._send_http_response(405, headers,
                                 json.dumps(problem(405, "method_not_allowed", detail)))

    def _send_http_response(self, code: int, headers: Any, body: str | bytes | None) -> None:
        if code in NO_BODY_STATUSES:
            # Chalice would add Content-Length: 0 and a default JSON Content-Type.
            self.send_response(code)
            self._send_headers({k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")})
            return
        if self.command == "HEAD":
            # A HEAD answer has the headers of the full answer and never a body.
            self.send_response(code)
            data = body.encode() if isinstance(body, str) else (body or b"")
            sent = {k: v for k, v in headers.items() if k.lower() != "content-length"}
            if data and not any(k.lower() == "content-type" for k in sent):
                sent["Content-Type"] = "application/json"
            sent["Content-Length"] = str(len(data))
            self._send_headers(sent)
            return
        super()._send_http_response(code, headers, body)

    def _clock(self) -> None:
        _, body = self._parse_payload()
        if self.command != "POST":
            self._send_json(405, problem(405, "method_not_allowed", "POST {\"advance_seconds\": N}"), PROBLEM_CONTENT_TYPE)
            return
        try:
            seconds = json.loads(body or b"{}").get("advance_seconds")
        except (ValueError, AttributeError):
            seconds = None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= MAX_ADVANCE:
            error = problem(400, "validation_error", "advance_seconds must be a number from 0 to ten years")
            error["errors"] = [{"field": "advance_seconds", "message": "a number of seconds, 0 or more"}]
            self._send_json(400, error, PROBLEM_CONTENT_TYPE)
            return
        self._send_json(200, type(self).on_clock(float(seconds)), "application/json")

    def _send_json(self, status: int, body: dict[str, Any], content_type: str) -> None:
        self._send_http_response(status, {"Content-Type": content_type}, json.dumps(body))


def thread_local_requests(app: Chalice) -> None:
    """As chalice.local.create_local_server does: ``current_request`` held per thread (once
    per app), so concurrent requests in one process never read each other's body. Lambda
    runs one request per process and needs nothing of the kind."""
    if not isinstance(app, LocalChalice):
        app.__class__ = type("LocalApp", (LocalChalice, app.__class__), {})


def make_server(app: Chalice, config: Any, host: str, port: int, on_clock: Callable[[float], dict[str, Any]]) -> LocalDevServer:
    gateway.install()
    thread_local_requests(app)
    handler = type("StackHandler", (Handler,), {"app": app, "on_clock": staticmethod(on_clock)})
    return LocalDevServer(app, config, host, port, handler_cls=handler, server_cls=Server)


def serve_in_thread(server: LocalDevServer) -> threading.Thread:
    thread = threading.Thread(target=server.server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread

