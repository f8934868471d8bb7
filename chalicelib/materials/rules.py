"""Materials, pure: what may be uploaded per kind, where it is stored, and the checks of an
uploaded file.

Limits per kind (content types and the largest file), from the channels that send them:

* image: PNG, JPEG, GIF, WebP up to 10 MB (WeChat Official Account image material);
* video: MP4, 3GPP up to 16 MB (WhatsApp Cloud API video);
* audio: MP3 (audio/mpeg), AAC, AMR, Ogg, M4A (audio/mp4) up to 16 MB (WhatsApp Cloud API audio);
* lottie: a Lottie animation's JSON up to 2 MB (no channel publishes a limit; animations
  for push and in-app messages are far smaller).

A channel with a smaller limit (WhatsApp images: 5 MB; WeChat voice: 2 MB) checks its own
when a message carries the material.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

MB = 1024 * 1024


class MaterialKind(str, Enum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    LOTTIE = "lottie"


class MaterialStatus(str, Enum):
    UPLOADING = "uploading"
    READY = "ready"
    REJECTED = "rejected"


# Short names inside the package (the long ones name the schemas in the OpenAPI document).
Kind = MaterialKind
Status = MaterialStatus


@dataclass(frozen=True)
class Limit:
    content_types: tuple[str, ...]
    max_bytes: int


LIMITS: dict[Kind, Limit] = {
    Kind.IMAGE: Limit(("image/png", "image/jpeg", "image/gif", "image/webp"), 10 * MB),
    Kind.VIDEO: Limit(("video/mp4", "video/3gpp"), 16 * MB),
    Kind.AUDIO: Limit(("audio/mpeg", "audio/aac", "audio/amr", "audio/ogg", "audio/mp4"), 16 * MB),
    Kind.LOTTIE: Limit(("application/json",), 2 * MB),
}
LOTTIE_KEYS = ("v", "fr", "ip", "op", "w", "h", "layers")
MAX_FILENAME_KEY = 100


def upload_problems(kind: Kind, content_type: str, size: int) -> list[tuple[str, str]]:
    """(field, problem) for a declared upload outside its kind's limits."""
    limit = LIMITS[kind]
    problems = []
    if content_type not in limit.content_types:
        problems.append(("content_type", f"a {kind.value} is one of {', '.join(limit.content_types)}"))
    if size > limit.max_bytes:
        problems.append(("size", f"a {kind.value} is at most {limit.max_bytes} bytes ({limit.max_bytes // MB} MB)"))
    return problems


def safe_filename(filename: str) -> str:
    """The file name as an S3 key part: letters, digits, '.', '_' and '-' kept, runs of
    anything else one '_', no leading dots, at most MAX_FILENAME_KEY characters."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).lstrip(".")
    if len(name) > MAX_FILENAME_KEY:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:MAX_FILENAME_KEY - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:MAX_FILENAME_KEY]
    return name or "file"


def object_key(workspace_id: str, material_id: str, filename: str) -> str:
    return f"{workspace_id}/materials/{material_id}/{safe_filename(filename)}"


def stored_problem(declared_size: int, declared_type: str, size: int, content_type: str | None) -> str | None:
    """Why the object S3 holds is not the file declared, or None."""
    if size != declared_size:
        return f"the uploaded file has {size} bytes, not the {declared_size} declared"
    if (content_type or "").split(";")[0].strip().lower() != declared_type:
        return f"the file was uploaded as {content_type or 'no content type'}, not {declared_type}"
    return None


def lottie_problem(data: bytes) -> str | None:
    """Why ``data`` is not a Lottie animation, or None: JSON whose top level is an object
    with Lottie's keys v (version text), fr, ip, op, w, h (numbers) and layers (a list)."""
    try:
        document: Any = json.loads(data)
    except (ValueError, RecursionError):
        return "the file is not valid JSON (UTF-8)"
    if not isinstance(document, dict):
        return "a Lottie file is a JSON object"
    missing = [key for key in LOTTIE_KEYS if key not in document]
    if missing:
        return f"not a Lottie animation: the top level lacks {', '.join(missing)}"
    numbers = [key for key in ("fr", "ip", "op", "w", "h")
               if isinstance(document[key], bool) or not isinstance(document[key], (int, float))]
    if numbers:
        return f"not a Lottie animation: {', '.join(numbers)} must be numbers"
    if not isinstance(document["v"], str):
        return "not a Lottie animation: v must be the version as text"
    if not isinstance(document["layers"], list):
        return "not a Lottie animation: layers must be a list"
    return None
