"""moto's server as its own process (in-process threading makes SQS ~4x slower).

Exits when its parent dies, so an interrupted stack never leaves it behind.
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

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
