"""moto's server as its own process (in-process threading makes SQS ~4x slower).

Exits when its parent dies, so an interrupted stack never leaves it behind.
``MOTO_PROFILE=path``: profile every request (CPU time, cProfile) and write the merged
statistics to ``path`` every few seconds (read them with ``python -m pstats path``).
"""
from __future__ import annotations

import argparse
import logging
import os
import threading
import time


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1)
        if os.getppid() != parent:
            os._exit(0)


def _profile_requests(path: str) -> None:
    """Profile each request on its own thread (cProfile follows one thread) in CPU time,
    merging into one pstats file written every 5 s."""
    import cProfile
    import pstats

    from moto.moto_server.werkzeug_app import MotoRequestHandler

    merged: list[pstats.Stats] = []
    lock = threading.Lock()
    handle = MotoRequestHandler.handle_one_request

    def profiled(self: MotoRequestHandler) -> None:
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        try:
            handle(self)
        finally:
            profile.disable()
            with lock:
                if merged:
                    merged[0].add(profile)
                else:
                    merged.append(pstats.Stats(profile))

    def dump() -> None:
        while True:
            time.sleep(5)
            with lock:
                if merged:
                    merged[0].dump_stats(path)

    MotoRequestHandler.handle_one_request = profiled  # type: ignore[assignment]
    threading.Thread(target=dump, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent", type=int, default=os.getppid())
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    threading.Thread(target=_watch_parent, args=(args.parent,), daemon=True).start()
    from moto.server import ThreadedMotoServer

    from devstack import moto_patches

    moto_patches.install()
    if os.environ.get("MOTO_PROFILE"):
        _profile_requests(os.environ["MOTO_PROFILE"])

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
