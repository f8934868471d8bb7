"""Per task, journey node and campaign counters of messages (targeted, sent, delivered, ...).

``counting`` decides what a status change counts (pure); ``repo`` stores them in hourly,
sharded items (the hour of the change that causes them) and reads them back:
``counters.read(workspace_id, owner)`` for totals, ``repo.buckets`` for the hours the
analytics routes regroup into days.
"""
from chalicelib.counters.repo import read

__all__ = ["read"]
