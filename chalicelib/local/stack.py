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

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local.motoserver", "--port", str(port), "--parent", str(os.getpid())],
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


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    state_dir = Path(args.state_dir).resolve() if args.state_dir else None
    from chalicelib.local.state import read_json, write_json  # no config read in this module

    saved = read_json(state_dir / "state.json") if state_dir else {}
    moto_port = int(os.environ.get("MOTO_PORT") or free_port())
    moto = start_moto(moto_port)
    configure_environment(moto_port, saved)
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)

    from chalice.cli.factory import CLIFactory

    from chalicelib import aws, clock, logs
    from chalicelib.config import settings
    from chalicelib.local import resources, seed, server, state
    from chalicelib.local.pump import Pump
    from chalicelib.local.scheduler import Scheduler

    resources.create_all(aws.dynamodb(), aws.sqs(), settings.resource_prefix)
    tables = [settings.table(t) for t in settings.tables]
    if state_dir:
        state.restore_tables(aws.dynamodb(), tables, state_dir)
        clock.set_offset(float(saved.get("clock_offset_seconds", 0)))

    factory = CLIFactory(str(ROOT))
    app = factory.load_chalice_app()
    config = factory.create_config_obj(chalice_stage_name="dev")
    pump = Pump(app, workers_per_queue=args.workers)
    scheduler = Scheduler(app, clock.now)

    def on_clock(seconds: float) -> dict[str, Any]:
        clock.advance(seconds)
        scheduler.run_due()
        pump.drain(timeout=60)
        return {"now": clock.iso(clock.now())}

    demo = saved.get("demo") if saved.get("demo") and state_dir else None
    if not args.no_demo and demo is None:
        created = seed.seed_demo(clock.now())
        demo = {"workspace_id": created.workspace.id, "api_key": created.api_key.secret}

    port = args.port or free_port()
    try:
        http = server.make_server(app, config, "127.0.0.1", port, on_clock)
    except OSError as error:
        moto.terminate()
        raise SystemExit(f"cannot serve on 127.0.0.1:{port} ({error.strerror}); try `make run PORT=8100`") from None
    stop = threading.Event()
    pump.start()
    threading.Thread(target=scheduler.loop, args=(stop,), name="scheduler", daemon=True).start()
    server.serve_in_thread(http)

    def persist() -> None:
        if not state_dir:
            return
        state.dump_tables(aws.dynamodb(), tables, state_dir)
        write_json(state_dir / "state.json", {
            "bootstrap_key": os.environ["MA_BOOTSTRAP_KEY"], "demo": demo if not args.no_demo else None,
            "clock_offset_seconds": clock.offset_seconds(),
        })

    persist()
    print(f"\nMarketing automation, local stack (moto on 127.0.0.1:{moto_port})", flush=True)
    print(f"  API            http://127.0.0.1:{port}   (OpenAPI: /v1/openapi.json)")
    print(f"  org admin key  {os.environ['MA_BOOTSTRAP_KEY']}   (POST /v1/workspaces)")
    if demo:
        print(f"  demo workspace {demo['workspace_id']}")
        print(f"  demo admin key {demo['api_key']}")
    print(f"  state          {state_dir or 'not kept'}")
    print("  Ctrl-C stops everything.\n", flush=True)

    def shutdown(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    while not stop.wait(0.5):
        if moto.poll() is not None:
            logs.logger.error("moto server died; stopping")
            break
    print("stopping: finishing queued work...", flush=True)
    http.server.shutdown()
    try:
        pump.drain(timeout=15)
        pump.stop()
        persist()
    finally:
        moto.terminate()
        try:
            moto.wait(timeout=5)
        except subprocess.TimeoutExpired:
            moto.kill()
    print("stopped.", flush=True)


if __name__ == "__main__":
    main()
