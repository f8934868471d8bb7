"""Who is calling: a workspace key with a role, or the organisation's bootstrap key."""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import lru_cache

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.errors import Forbidden, Unauthorized
from chalicelib.tenancy import keys
from chalicelib.tenancy.schemas import Role

ORG_ADMIN = "org_admin"


@dataclass(frozen=True)
class Principal:
    workspace_id: str | None
    role: Role | None
    key_id: str | None = None

    @property
    def is_org_admin(self) -> bool:
        return self.workspace_id is None


@lru_cache(maxsize=1)
def _bootstrap_key() -> str | None:
    if settings.bootstrap_key:
        return settings.bootstrap_key
    if settings.bootstrap_key_secret_id:
        secret = aws.secretsmanager().get_secret_value(SecretId=settings.bootstrap_key_secret_id)
        return str(secret["SecretString"]).strip()
    return None



def authenticate(authorization: str | None) -> Principal:
    """Resolve the Authorization header to a principal, or raise 401."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("send 'Authorization: Bearer <api key>'")
    raw = authorization[7:].strip()
    bootstrap = _bootstrap_key()
    if bootstrap and hmac.compare_digest(raw.encode(), bootstrap.encode()):
        return Principal(workspace_id=None, role=None, key_id=ORG_ADMIN)
    token = keys.parse_token(raw)
    item = keys.lookup(token) if token else None
    if item is None:
        raise Unauthorized("the API key is not valid")
    return Principal(workspace_id=token.workspace_id, role=Role(item.role), key_id=item.key_id)  # type: ignore[union-attr]


def authorize(principal: Principal, *, role: Role | None, org: bool) -> None:
    """Raise 403 unless the principal may call a route needing ``role`` (or the org admin)."""
    if org:
        if not principal.is_org_admin:
            raise Forbidden("only the organisation admin key may do this")
        return
    if principal.is_org_admin:
        raise Forbidden("the organisation admin key only creates workspaces; use a workspace key")
    if role is not None and principal.role is not None and principal.role.rank < role.rank:
        raise Forbidden(f"this needs the {role.value} role; the key has {principal.role.value}")
