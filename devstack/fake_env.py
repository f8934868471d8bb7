"""The environment for running the app in-process against moto (tests, benchmarks).

Call before anything builds an AWS client or reads chalicelib.config.
"""
from __future__ import annotations

import os


def use_fake_aws(bootstrap_key: str) -> None:
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_XRAY_SDK_ENABLED": "false",
        "MA_BOOTSTRAP_KEY": bootstrap_key, "MA_LOG_LEVEL": "WARNING", "MA_STAGE": "test",
    })
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MA_RESOURCE_PREFIX"):
        os.environ.pop(name, None)
