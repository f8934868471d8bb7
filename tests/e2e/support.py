"""Helpers for the end-to-end tests."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devstack.harness import ROOT


def dlq_command(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m ops.dlq` as an operator runs it (no AWS or MA_ variable from the caller)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MA_"))}
    return subprocess.run([sys.executable, "-m", "ops.dlq", "--state-dir", str(state_dir), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
