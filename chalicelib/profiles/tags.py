"""Tags on a profile: a string set on the profile item, changed with ADD/DELETE updates."""
from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from chalicelib import clock
from chalicelib.errors import Invalid, NotFound
from chalicelib.models.profiles import PROFILE_SK, ProfileItem, user_pk
from chalicelib.profiles.profiles import check_user_id
from chalicelib.profiles.schemas import Tags, TagsChange

MAX_TAGS = 200


def change(workspace_id: str, user_id: str, request: TagsChange, now: datetime) -> Tags:
    """Add then remove tags. Each update is idempotent, so a retried call changes nothing more."""
    check_user_id(user_id)
    item = ProfileItem(user_pk(workspace_id, user_id), PROFILE_SK)
    exists = ProfileItem.pk.exists()
    stamp = ProfileItem.updated_at.set(clock.iso(now))
    try:
        if request.add:
            room = (ProfileItem.tags.does_not_exist()) | (size(ProfileItem.tags) <= MAX_TAGS - len(request.add))
            item.update(actions=[ProfileItem.tags.add(set(request.add)), stamp], condition=exists & room)
        if request.remove:
            item.update(actions=[ProfileItem.tags.delete(set(request.remove)), stamp], condition=exists)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        if not _exists(workspace_id, user_id):
            raise NotFound(f"no profile {user_id}") from None
        raise Invalid("add", f"a profile holds at most {MAX_TAGS} tags") from None
    return Tags(user_id=user_id, tags=sorted(item.tags or []))


def _exists(workspace_id: str, user_id: str) -> bool:
    return ProfileItem.count(user_pk(workspace_id, user_id), ProfileItem.sk == PROFILE_SK) > 0
