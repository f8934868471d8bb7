"""The draft's revision history, pure: undo and redo over the last LIMIT revisions.

A draft is a pointer to a stored snapshot of its graph plus two stacks of snapshot ids.
An edit stores a new snapshot (named by the revision it creates), pushes the previous one
on the undo stack (the oldest falls off past LIMIT) and clears the redo stack; undo and
redo only move the pointer between stored snapshots. Every change, undo and redo too,
raises ``revision`` by one: the number a client sends back to prove it saw the latest
draft. ``dropped`` says which snapshots nothing points to any more (to delete).
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.errors import Conflict

LIMIT = 50


@dataclass(frozen=True)
class Draft:
    revision: int
    current: int                 # the snapshot holding the draft's graph
    undo: tuple[int, ...] = ()   # oldest first
    redo: tuple[int, ...] = ()   # the next redo last


def start() -> Draft:
    """A new journey's draft: revision 1, snapshot 1."""
    return Draft(revision=1, current=1)


def record(draft: Draft) -> tuple[Draft, list[int]]:
    """After an edit: the new draft (its snapshot is its new revision) and the snapshots to drop."""
    revision = draft.revision + 1
    undo = draft.undo + (draft.current,)
    dropped = list(undo[:-LIMIT]) + list(draft.redo)
    return Draft(revision, revision, undo[-LIMIT:], ()), dropped


def undo(draft: Draft) -> Draft:
    if not draft.undo:
        raise Conflict("nothing_to_undo", f"nothing to undo (the last {LIMIT} edits can be undone)")
    return Draft(draft.revision + 1, draft.undo[-1], draft.undo[:-1], draft.redo + (draft.current,))


def redo(draft: Draft) -> Draft:
    if not draft.redo:
        raise Conflict("nothing_to_redo", "nothing to redo (an edit after an undo clears what could be redone)")
    return Draft(draft.revision + 1, draft.redo[-1], draft.undo + (draft.current,), draft.redo[:-1])
