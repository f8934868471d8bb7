"""Start the local stack as a subprocess and talk HTTP to it (end-to-end tests, benchmarks)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StackProcess:
    """The local stack started as the README says (``make run``) on free ports, with no
    AWS or MA_ variable from the caller's environment; the org admin key is read from
    what it prints, as a user would. ``stop()`` is a Ctrl-C to the whole process group."""

    def __init__(self, state_dir: Path, *, demo: bool = False, workers: int = 2, start_timeout: float = 90.0,
                 bootstrap_key: str | None = None):
        self.port = free_port()
        self.state_dir = Path(state_dir)
        self.log = Path(state_dir).parent / f"stack-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MA_"))}
        env.update({"PYTHONUNBUFFERED": "1"})
        if bootstrap_key:  # an operator's own key (MA_BOOTSTRAP_KEY), for the tests that need one
            env["MA_BOOTSTRAP_KEY"] = bootstrap_key
        args = ["make", "--no-print-directory", "run", f"PORT={self.port}", f"STATE_DIR={state_dir}",
                f"DEMO={1 if demo else 0}", f"WORKERS={workers}"]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the stack exited:\n" + self.output())
            try:
                if "Ctrl-C" in self.output() and self.call("GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the stack did not start within {start_timeout} s:\n" + self.output())

    @property
    def org_admin_key(self) -> str:
        """The key the banner prints (``org admin key  ...``)."""
        match = re.search(r"org admin key\s+(\S+)", self.output())
        assert match, self.output()
        return match.group(1)

    @property
    def demo_key(self) -> str:
        match = re.search(r"demo admin key\s+(\S+)", self.output())
        assert match, self.output()
        return match.group(1)

    def output(self) -> str:
        return self.log.read_text()

    @property
    def moto_endpoint(self) -> str:
        match = re.search(r"moto on (127\.0\.0\.1:\d+)", self.output())
        assert match, self.output()
        return f"http://{match.group(1)}"

    def call(self, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=120) as reply:
                raw = reply.read()
                return reply.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            try:
                return self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()
