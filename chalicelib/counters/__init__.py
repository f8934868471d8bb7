"""Per task, journey node and campaign counters of messages (targeted, sent, delivered, ...).

``counting`` decides what a status change counts (pure); ``repo`` stores the shards and
reads them back: ``counters.read(workspace_id, owner)`` is what the analytics routes call.
"""
from chalicelib.counters.repo import read

__all__ = ["read"]
