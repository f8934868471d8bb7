"""Tags on a profile: a string set on the profile item, changed with ADD/DELETE updates.

Each update also bumps the profile's version (see ``repo``), so an upsert that read the
profile before the tag change cannot write its older tags back."""
from __future__ import annotations

from datetime import datetime

from chalicelib import clock
from chalicelib.errors import Invalid, NotFound
from chalicelib.profiles import repo
from chalicelib.profiles.profiles import check_user_id
from chalicelib.profiles.schemas import Tags, TagsChange

MAX_TAGS = 200


def change(workspace_id: str, user_id: str, request: TagsChange, now: datetime) -> Tags:
    """Add then remove tags. Each update is idempotent, so a retried call changes nothing more."""
    check_user_id(user_id)
    stamp = clock.iso(now)
    tags: frozenset[str] | None = None
    if request.add:
        tags = repo.add_tags(workspace_id, user_id, set(request.add), stamp, max_tags=MAX_TAGS)
        if tags is None:
            if not repo.profile_exists(workspace_id, user_id):
                raise NotFound(f"no profile {user_id}")
            raise Invalid("add", f"a profile holds at most {MAX_TAGS} tags")
    if request.remove:
        tags = repo.remove_tags(workspace_id, user_id, set(request.remove), stamp)
        if tags is None:
            raise NotFound(f"no profile {user_id}")
    return Tags(user_id=user_id, tags=sorted(tags or ()))
