"""SMS signatures: the sender name an SMS provider puts in brackets before the text (for
example Alibaba Cloud's ``SignName``). Carriers require each to be registered, so an admin
approves a signature before any message carries it: the same review as templates
(``review``). Pure: the record, its request shapes and the review steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import Field

from chalicelib import clock
from chalicelib.schemas import PageQuery, Request, Response
from chalicelib.sending import review
from chalicelib.sending.content import PROVIDER, SIGNATURE
from chalicelib.sending.review import Status

WHAT = "signature"
NAME = SIGNATURE


class SignatureIn(Request):
    name: str = Field(pattern=NAME, description="the signature as carriers show it, without brackets")
    provider: str | None = Field(None, pattern=PROVIDER, description="the provider account it is registered with")
    description: str | None = Field(None, min_length=1, max_length=500,
                                    description="for the reviewer: who uses it and the registration proof")


class SignatureOut(Response):
    name: str
    provider: str | None = None
    description: str | None = None
    status: Status
    version: int
    reason: str | None = None
    created_at: str
    updated_at: str
    reviewed_at: str | None = None


class SignaturesQuery(PageQuery):
    status: Status | None = None


@dataclass(frozen=True)
class Signature:
    name: str
    status: Status
    version: int
    created_at: str
    updated_at: str
    provider: str | None = None
    description: str | None = None
    reason: str | None = None
    reviewed_at: str | None = None


def new(request: SignatureIn, now: datetime) -> Signature:
    """A new signature, version 1, pending review."""
    stamp = clock.iso(now)
    return Signature(name=request.name, provider=request.provider, description=request.description,
                     status=Status.PENDING_REVIEW, version=1, created_at=stamp, updated_at=stamp)


def approve(signature: Signature, now: datetime, version: int | None) -> Signature:
    return review.approve(signature, now, version=version, what=WHAT)


def reject(signature: Signature, reason: str, now: datetime, version: int | None) -> Signature:
    return review.reject(signature, reason, now, version=version, what=WHAT)


def unsendable_reason(name: str, signature: Signature | None) -> str | None:
    """Why a message carrying the signature ``name`` may not be sent; None if it may."""
    if signature is not None and review.approved(signature):
        return None
    state = "gone" if signature is None else signature.status.value
    return f"SMS signature {name} is not approved ({state}); nothing unapproved is sent"


def to_api(signature: Signature) -> SignatureOut:
    return SignatureOut(name=signature.name, provider=signature.provider, description=signature.description,
                        status=signature.status, version=signature.version, reason=signature.reason,
                        created_at=signature.created_at, updated_at=signature.updated_at,
                        reviewed_at=signature.reviewed_at)
