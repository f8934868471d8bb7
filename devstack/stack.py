"""``make run``: the whole platform on this machine.

moto's server in its own process; the tables and queues of infra/resources.yaml; the
Chalice app served on 127.0.0.1 with queue pumps and the schedule runner in this
process; an optional demo workspace; state kept in a directory across restarts.
Configuration is read from the environment *after* this module points it at moto, so
nothing from chalicelib is imported at module level.
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.motoserver", "--port", str(port), "--parent", str(os.getpid())],
        cwd=ROOT, start_new_session=True,  # Ctrl-C reaches the stack, which stops moto after saving state
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"moto server exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("moto server did not start within 30 s")


def configure_environment(moto_port: int, state: dict[str, Any]) -> None:
    os.environ.update({
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_XRAY_SDK_ENABLED": "false",
        "MA_STAGE": "local",
    })
    os.environ.pop("AWS_PROFILE", None)
    if not os.environ.get("MA_BOOTSTRAP_KEY"):
        os.environ["MA_BOOTSTRAP_KEY"] = state.get("bootstrap_key") or "mab." + secrets.token_urlsafe(24)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the platform locally on moto.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)), help="API port (0 = any free)")
    parser.add_argument("--state-dir", default=".local-state", help="keep tables here across restarts; '' for none")
    parser.add_argument("--no-demo", action="store_true", help="do not create the demo workspace")
    parser.add_argument("--workers", type=int, default=2, help="pump threads per queue")
    return parser.parse_args(argv)


class LocalStack:
    """The running stack: moto, the app with its pumps and schedules, the HTTP server, state."""

    def __init__(self, args: argparse.Namespace):
        from devstack.state import read_state  # no config read in this module

        self.args = args
        self.state_dir = Path(args.state_dir).resolve() if args.state_dir else None
        self.saved = read_state(self.state_dir) if self.state_dir else {}
        self.demo: dict[str, str] | None = self.saved.get("demo") if self.state_dir else None
        self.stop = threading.Event()
        self._persisting = threading.Lock()
        self.moto_port = int(os.environ.get("MOTO_PORT") or free_port())
        self.moto = start_moto(self.moto_port)
        configure_environment(self.moto_port, self.saved)
        self.port = self.args.port or free_port()
        os.environ.setdefault("MA_PUBLIC_BASE_URL", f"http://127.0.0.1:{self.port}")  # unsubscribe links point here
        from chalicelib import config

        config.reload()  # whatever was imported so far, settings are read from here on
        sys.path.insert(0, str(ROOT))
        os.chdir(ROOT)

    def boot(self) -> None:
        """Tables and queues, restored state, the app, its pumps and schedules, the demo."""
        from chalice.cli.factory import CLIFactory

        from chalicelib import aws, clock
        from chalicelib.config import settings
        from devstack import resources, seed, state
        from devstack.pump import Pump
        from devstack.scheduler import Scheduler

        resources.create_all(aws.dynamodb(), aws.sqs(), settings.resource_prefix, s3=aws.s3())
        self.tables = [settings.table(t) for t in settings.tables]
        if self.state_dir:
            snapshot = state.current_snapshot(self.state_dir)
            if snapshot:
                warning = state.restore(aws.dynamodb(), self.tables, snapshot, self.state_dir).warning(self.state_dir)
                if warning:
                    print(warning, file=sys.stderr, flush=True)
            clock.set_offset(float(self.saved.get("clock_offset_seconds", 0)))
        factory = CLIFactory(str(ROOT))
        self.app = factory.load_chalice_app()
        self.config = factory.create_config_obj(chalice_stage_name="dev")
        self.pump = Pump(self.app, workers_per_queue=self.args.workers)
        self.scheduler = Scheduler(self.app, clock.now)
        if not self.args.no_demo and self.demo is None:
            created = seed.seed_demo(clock.now())
            self.demo = {"workspace_id": created.workspace.id, "api_key": created.api_key.secret}

    def on_clock(self, seconds: float) -> dict[str, Any]:
        """``POST /_local/clock``: move time, run what became due, drain the queues."""
        from chalicelib import clock

        clock.advance(seconds)
        self.scheduler.run_due()
        self.pump.drain(timeout=60)
        return {"now": clock.iso(clock.now())}

    def serve(self) -> None:
        from devstack import server, state

        try:
            self.http = server.make_server(self.app, self.config, "127.0.0.1", self.port, self.on_clock)
        except OSError as error:
            self.moto.terminate()
            raise SystemExit(f"cannot serve on 127.0.0.1:{self.port} ({error.strerror}); try `make run PORT=8100`") from None
        self.pump.start()
        threading.Thread(target=self.scheduler.loop, args=(self.stop,), name="scheduler", daemon=True).start()
        threading.Thread(target=self._snapshots, name="snapshots", daemon=True).start()
        server.serve_in_thread(self.http)
        if self.state_dir:  # where operator tools (python -m ops.dlq) find this stack
            state.write_json(self.state_dir / state.RUNNING_FILE, {
                "moto_endpoint": f"http://127.0.0.1:{self.moto_port}", "api": f"http://127.0.0.1:{self.port}",
                "pid": os.getpid(),
            })
        try:
            self.persist()
        except Exception:  # noqa: BLE001 - the stack still starts; the previous snapshot is kept
            from chalicelib import logs

            logs.logger.exception("state snapshot failed; the previous snapshot is kept")
        print(self.banner(), flush=True)

    def persist(self) -> None:
        """Write a snapshot of the tables and state.json (when a state directory is kept).
        Raises if it fails; the previous snapshot then stays current."""
        if not self.state_dir:
            return
        from chalicelib import aws, clock
        from devstack import state

        with self._persisting:  # the snapshot thread and shutdown may overlap
            state.write_snapshot(aws.dynamodb(), self.tables, self.state_dir, {
                "bootstrap_key": os.environ["MA_BOOTSTRAP_KEY"], "demo": self.demo,
                "clock_offset_seconds": clock.offset_seconds(),
            })

    def _snapshots(self) -> None:
        """Save state every SNAPSHOT_SECONDS too, so a killed stack loses at most that much."""
        from chalicelib import logs

        while not self.stop.wait(SNAPSHOT_SECONDS):
            try:
                self.persist()
            except Exception:  # noqa: BLE001 - a failed snapshot must not stop the stack
                logs.logger.exception("state snapshot failed; the previous snapshot is kept")

    def banner(self) -> str:
        lines = [
            f"\nMarketing automation, local stack (moto on 127.0.0.1:{self.moto_port})",
            f"  API            http://127.0.0.1:{self.port}   (OpenAPI: /v1/openapi.json)",
            f"  org admin key  {os.environ['MA_BOOTSTRAP_KEY']}   (POST /v1/workspaces)",
        ]
        if self.demo:
            lines += [f"  demo workspace {self.demo['workspace_id']}", f"  demo admin key {self.demo['api_key']}"]
        lines += [f"  state          {self.state_dir or 'not kept'}", "  Ctrl-C stops everything.\n"]
        return "\n".join(lines)

    def wait(self) -> None:
        """Until Ctrl-C, SIGTERM, or moto dying."""
        from chalicelib import logs

        signal.signal(signal.SIGINT, lambda signum, frame: self.stop.set())
        signal.signal(signal.SIGTERM, lambda signum, frame: self.stop.set())
        while not self.stop.wait(0.5):
            if self.moto.poll() is not None:
                logs.logger.error("moto server died; stopping")
                break

    def shutdown(self) -> None:
        """Stop taking requests, finish queued work, save state, stop moto. moto is stopped
        whatever fails before; a failed final snapshot is logged and the previous one kept."""
        from chalicelib import logs
        from devstack import state

        print("stopping: finishing queued work...", flush=True)
        self.stop.set()
        try:
            self.http.server.shutdown()
            self.pump.drain(timeout=15)
            self.pump.stop()
            self.persist()
        except Exception:  # noqa: BLE001 - Ctrl-C must still stop everything
            logs.logger.exception("final state snapshot failed; the previous snapshot is kept")
        finally:
            if self.state_dir:
                (self.state_dir / state.RUNNING_FILE).unlink(missing_ok=True)
            self.moto.terminate()
            try:
                self.moto.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.moto.kill()
        print("stopped.", flush=True)


def main(argv: list[str] | None = None) -> None:
    stack = LocalStack(parse_args(argv))
    stack.boot()
    stack.serve()
    stack.wait()
    stack.shutdown()


if __name__ == "__main__":
    main()
