"""Chalice's local HTTP server, plus the local-only ``POST /_local/clock`` route.

The clock route is served here, outside the Chalice app, so no deployed stage has it.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Callable

from chalice import Chalice
from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer

from chalicelib.errors import PROBLEM_CONTENT_TYPE, problem
from devstack import gateway

MAX_ADVANCE = 10 * 366 * 86400


class Handler(ChaliceRequestHandler):
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


def make_server(app: Chalice, config: Any, host: str, port: int, on_clock: Callable[[float], dict[str, Any]]) -> LocalDevServer:
    gateway.install()
    # As chalice.local.create_local_server does: a thread-local current_request.
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    handler = type("StackHandler", (Handler,), {"on_clock": staticmethod(on_clock)})
    return LocalDevServer(app, config, host, port, handler_cls=handler)


def serve_in_thread(server: LocalDevServer) -> threading.Thread:
    thread = threading.Thread(target=server.server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread

