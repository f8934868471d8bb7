"""The material library: a presigned upload per material, the check after upload (size,
type, and for Lottie the JSON itself), listing, reading with a download URL, deleting.

The file never passes through the API: the client PUTs it to S3 with the presigned URL
(content type and length signed in), then calls ``complete``, which looks at what S3
holds and moves the material from ``uploading`` to ``ready`` or ``rejected``.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import Field, model_validator

from chalicelib import aws, clock, ids, pagination
from chalicelib.config import settings
from chalicelib.errors import Conflict, FieldError, Invalid, NotFound, Unavailable
from chalicelib.materials import repo, rules
from chalicelib.materials.repo import Material
from chalicelib.materials.rules import Kind, Status
from chalicelib.schemas import JsonInt, PageQuery, Request, Response, rule

UPLOAD_SECONDS = 900
DOWNLOAD_SECONDS = 3_600
FILENAME = rule(r"^[^\x00-\x1f\x7f/\\]{1,255}$", "a file name is 1-255 characters without control characters, '/' or '\\'")


class MaterialIn(Request):
    kind: Kind
    filename: str = Field(pattern=FILENAME)
    content_type: str = Field(min_length=1, max_length=100)
    size: JsonInt = Field(ge=1, description="bytes; the upload must be exactly this long")

    @model_validator(mode="after")
    def _within_limits(self) -> "MaterialIn":
        problems = rules.upload_problems(self.kind, self.content_type, self.size)
        if problems:
            raise Invalid(errors=[FieldError(f, m) for f, m in problems])
        return self


class Upload(Response):
    method: str = "PUT"
    url: str
    headers: dict[str, str] = Field(description="send exactly these headers with the PUT")
    expires_at: str


class MaterialOut(Response):
    id: str
    kind: Kind
    filename: str
    content_type: str
    size: int
    status: Status
    reason: str | None = None
    created_at: str
    updated_at: str
    upload: Upload | None = Field(None, description="where to PUT the file (on create)")
    download_url: str | None = Field(None, description="a presigned GET, for an hour (ready materials)")


class MaterialsQuery(PageQuery):
    kind: Kind | None = None
    status: Status | None = None


def _out(material: Material, **extra: Any) -> MaterialOut:
    return MaterialOut(id=material.id, kind=material.kind, filename=material.filename,
                       content_type=material.content_type, size=material.size, status=material.status,
                       reason=material.reason, created_at=material.created_at, updated_at=material.updated_at, **extra)


def _bucket() -> str:
    return settings.bucket("uploads")


def create(workspace_id: str, request: MaterialIn, now: datetime) -> MaterialOut:
    """A material waiting for its file, and the presigned PUT that uploads it."""
    material_id = ids.ordered_id("mat", now)
    stamp = clock.iso(now)
    material = Material(id=material_id, kind=request.kind, filename=request.filename,
                        content_type=request.content_type, size=request.size,
                        object_key=rules.object_key(workspace_id, material_id, request.filename),
                        status=Status.UPLOADING, created_at=stamp, updated_at=stamp)
    if not repo.put_new(workspace_id, material):
        raise Unavailable("a material with this id appeared meanwhile; try again")
    url = aws.s3().generate_presigned_url("put_object", ExpiresIn=UPLOAD_SECONDS, Params={
        "Bucket": _bucket(), "Key": material.object_key, "ContentType": material.content_type,
        "ContentLength": material.size})
    upload = Upload(url=url, headers={"Content-Type": material.content_type, "Content-Length": str(material.size)},
                    expires_at=clock.iso(now + timedelta(seconds=UPLOAD_SECONDS)))
    return _out(material, upload=upload)


def _current(workspace_id: str, material_id: str) -> Material:
    found = repo.get(workspace_id, material_id)
    if found is None:
        raise NotFound(f"no material {material_id}")
    return found


def get(workspace_id: str, material_id: str) -> MaterialOut:
    material = _current(workspace_id, material_id)
    if material.status is not Status.READY:
        return _out(material)
    url = aws.s3().generate_presigned_url("get_object", ExpiresIn=DOWNLOAD_SECONDS,
                                          Params={"Bucket": _bucket(), "Key": material.object_key})
    return _out(material, download_url=url)


def _head(key: str) -> dict[str, Any] | None:
    try:
        answer: dict[str, Any] = aws.s3().head_object(Bucket=_bucket(), Key=key)
        return answer
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _lottie_problem(material: Material) -> str | None:
    """Read the file (never more than the declared size, itself within the kind's limit)."""
    body = aws.s3().get_object(Bucket=_bucket(), Key=material.object_key, Range=f"bytes=0-{material.size - 1}")["Body"]
    return rules.lottie_problem(body.read(material.size + 1))


def complete(workspace_id: str, material_id: str, now: datetime) -> MaterialOut:
    """Check the uploaded file: ready, or rejected with the reason (and the file deleted).
    409 not_uploaded while S3 holds no file; a material already checked is answered as is."""
    material = _current(workspace_id, material_id)
    if material.status is not Status.UPLOADING:
        return get(workspace_id, material_id)
    head = _head(material.object_key)
    if head is None:
        raise Conflict("not_uploaded", "no file was uploaded for this material yet; PUT it to the upload URL first")
    problem = rules.stored_problem(material.size, material.content_type, int(head["ContentLength"]),
                                   head.get("ContentType"))
    if problem is None and material.kind is Kind.LOTTIE:
        problem = _lottie_problem(material)
    checked = Material(**{**material.__dict__, "status": Status.REJECTED if problem else Status.READY,
                          "reason": problem, "updated_at": clock.iso(now)})
    if not repo.put_if_status(workspace_id, checked, Status.UPLOADING):
        return get(workspace_id, material_id)  # a concurrent complete decided first
    if problem:
        aws.s3().delete_object(Bucket=_bucket(), Key=material.object_key)
    return get(workspace_id, material_id)


def list_page(workspace_id: str, query: MaterialsQuery) -> dict[str, Any]:
    start = pagination.decode(query.cursor, attribute="pk", expected=workspace_id)
    found, last = repo.page(workspace_id, kind=query.kind.value if query.kind else None,
                            status=query.status.value if query.status else None, limit=query.limit, start=start)
    return {"items": [_out(m) for m in found], "next_cursor": pagination.encode(last)}


def delete(workspace_id: str, material_id: str) -> None:
    """Delete the material and its file; 409 in_use while an approved template names it."""
    material = _current(workspace_id, material_id)
    users = repo.approved_templates_using(workspace_id, material_id)
    if users:
        raise Conflict("in_use", f"approved templates use this material: {', '.join(users[:10])}; "
                                 "edit or delete them first")
    aws.s3().delete_object(Bucket=_bucket(), Key=material.object_key)
    if not repo.delete(workspace_id, material_id):
        raise NotFound(f"no material {material_id}")


def media_problems(workspace_id: str, material_ids: Sequence[str]) -> list[FieldError]:
    """A template's ``media``: each id must name a ready material (one BatchGetItem)."""
    found = repo.get_many(workspace_id, material_ids)
    problems = []
    for index, material_id in enumerate(material_ids):
        material = found.get(material_id)
        if material is None:
            problems.append(FieldError(f"media[{index}]", f"no material {material_id}"))
        elif material.status is not Status.READY:
            problems.append(FieldError(f"media[{index}]", f"material {material_id} is {material.status.value}, "
                                                          "not ready"))
    return problems


def read_bytes(material: Material) -> bytes:
    """A ready material's file (never more than its declared size): what a provider that
    keeps its own copy (Alibaba's card SMS media) is given."""
    if material.status is not Status.READY:
        raise Conflict("media_not_ready", f"material {material.id} is {material.status.value}, not ready")
    body = aws.s3().get_object(Bucket=_bucket(), Key=material.object_key, Range=f"bytes=0-{material.size - 1}")["Body"]
    data: bytes = body.read(material.size + 1)
    return data
