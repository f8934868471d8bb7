"""RFM by quintile scores as a two-pass build on the segment machinery.

Scores 1-5 need cut points over every purchaser of the workspace, so an RFM source without
thresholds is built in two fan-outs over the same parallel-scan segments:

1. values: each segment scans its profiles with their aggregates, counts how many
   purchasers have each recency (days), frequency and monetary value (``rfm.RfmValues``,
   exact: one entry per distinct value, not per user), writes the counts compressed beside
   its run under a fresh attempt token, and marks itself counted once
   (``repo.mark_values_done``, the same conditional counter as the member pass). The
   segment completing the set merges every kept summary, computes the cut points
   (``rfm.cutpoints``), stores them on the snapshot once (``repo.mark_prepared``: phase
   values -> members) and queues the member pass (phase -> queued; a redelivered first-pass
   job that finds the phase still at members queues it again: member jobs are idempotent).
2. members: the usual segments, whose selector scores each purchaser against the stored
   cut points and counts users per segment name (the snapshot's distribution).

Both passes measure recency to the same moment: the source's ``as_of``, or the time the
build started (stored with the cut points), never the time a segment happens to run.

Exact: the merged counts are the population's exact multiset of values, so the cut points
equal those of a single pass over everyone (``rfm`` proves the scoring). The summaries are
small for R and F (a few thousand distinct days, a few hundred frequencies); monetary can
have one distinct value per purchaser: about 20 bytes each before compression, written in
chunks of at most ``CHUNK_RAW_BYTES`` (compressed, far below DynamoDB's 400 KB), so a
segment of 50,000 purchasers writes at most a few chunks. Cost: the profiles are scanned
twice (the first pass reads the same items as the second).
"""
from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from chalicelib import ids, logs
from chalicelib.audiences import repo, rfm
from chalicelib.audiences.messages import BuildSegment
from chalicelib.clock import iso, parse_iso
from chalicelib.events.aggregates import Stat
from chalicelib.profiles.repo import StatRecord
from chalicelib.schemas import parse

CHUNK_RAW_BYTES = 256 * 1024
RUN_TTL_SECONDS = 2 * 86_400  # as the member pass's runs (builder.RUN_TTL_SECONDS)


# --- the summary's stored form (pure) ----------------------------------------------------

def encode_values(values: rfm.RfmValues) -> list[bytes]:
    """Lines ``<dimension> <value> <count>`` (floats in repr, which round-trips exactly),
    cut into compressed chunks of at most ``CHUNK_RAW_BYTES`` raw bytes. Never empty."""
    dimensions: list[tuple[str, Mapping[Any, int]]] = [
        ("r", values.recency), ("f", values.frequency), ("m", values.monetary)]
    lines: Iterator[str] = (f"{dim} {value!r} {count}" for dim, counts in dimensions
                            for value, count in sorted(counts.items()))
    chunks: list[bytes] = []
    part: list[str] = []
    size = 0
    for line in lines:
        if part and size + len(line) + 1 > CHUNK_RAW_BYTES:
            chunks.append(zlib.compress("\n".join(part).encode()))
            part, size = [], 0
        part.append(line)
        size += len(line) + 1
    chunks.append(zlib.compress("\n".join(part).encode()))
    return chunks


def decode_values(chunks: Iterable[bytes]) -> rfm.RfmValues:
    values = rfm.RfmValues()
    for chunk in chunks:
        text = zlib.decompress(chunk).decode()
        for line in text.split("\n") if text else ():
            dim, value, count = line.split(" ")
            if dim == "r":
                values.recency[int(value)] += int(count)
            elif dim == "f":
                values.frequency[int(value)] += int(count)
            else:
                values.monetary[float(value)] += int(count)
    return values


def merge_all(parts: Iterable[rfm.RfmValues]) -> rfm.RfmValues:
    merged = rfm.RfmValues()
    for part in parts:
        merged.recency.update(part.recency)
        merged.frequency.update(part.frequency)
        merged.monetary.update(part.monetary)
    return merged


def prepared_json(cuts: rfm.Cutpoints, as_of: datetime) -> str:
    return json.dumps({"as_of": iso(as_of), "cutpoints": cuts.to_json()}, separators=(",", ":"))


def prepared_of(text: str) -> tuple[rfm.Cutpoints, datetime]:
    data = json.loads(text)
    return rfm.Cutpoints.from_json(data["cutpoints"]), parse_iso(data["as_of"])


def stats_of(stats: Mapping[str, StatRecord]) -> dict[str, Stat]:
    return {name: Stat(s.count, s.first_at, s.last_at, dict(s.sums)) for name, s in stats.items()}


def as_of(source: rfm.RfmSource, snapshot: repo.SnapshotRecord) -> datetime:
    """The moment recency is measured to, the same in both passes."""
    return source.as_of_time(parse_iso(snapshot.started_at))


def sample_prepared(source: Mapping[str, Any], candidates: Iterable[Any], now: datetime) -> str:
    """Cut points from the candidates given (an estimate's sample), in the stored form."""
    parsed: rfm.RfmSource = parse(rfm.RfmSource, dict(source))
    moment = parsed.as_of_time(now)
    values = rfm.collect(rfm.source_facts(parsed, stats_of(c.stats), moment) for c in candidates)
    return prepared_json(rfm.cutpoints(values), moment)


# --- the first pass ------------------------------------------------------------------------

class RfmFirstPass:
    def needed(self, source: Mapping[str, Any]) -> bool:
        return source.get("thresholds") is None

    def run(self, job: BuildSegment, snapshot: repo.SnapshotRecord, now: datetime) -> str:
        if job.segment in snapshot.values_done:
            if snapshot.phase == "values" and snapshot.values_complete:
                self.finish(snapshot, job, now)  # the completing delivery stopped before storing the cut points
            elif snapshot.phase == "members":
                start_members(snapshot, job, now)  # it stopped between storing the cut points and queueing
            return "already_done"
        if snapshot.phase != "values":
            return "already_done"
        source: rfm.RfmSource = parse(rfm.RfmSource, dict(snapshot.source))
        moment = as_of(source, snapshot)
        values = rfm.collect(rfm.source_facts(source, stats_of(c.stats), moment)
                             for c in repo.scan_segment(job.workspace_id, job.segment, job.total_segments, True))
        ref = repo.write_values(snapshot, job.segment, ids.new_id("a"), encode_values(values),
                                int(now.timestamp()) + RUN_TTL_SECONDS)
        counted = repo.mark_values_done(snapshot, job.segment, ref)
        if counted is None:
            again = repo.get_snapshot(job.workspace_id, job.audience_id, job.snapshot_id)
            if again is not None and again.status == "building" and again.phase == "values" and again.values_complete:
                self.finish(again, job, now)
            return "duplicate"
        if counted.values_complete:
            self.finish(counted, job, now)
            return "prepared"
        return "values_done"

    def finish(self, snapshot: repo.SnapshotRecord, job: BuildSegment, now: datetime) -> None:
        """Merge every kept summary into the cut points, store them once, start the member pass."""
        source: rfm.RfmSource = parse(rfm.RfmSource, dict(snapshot.source))
        merged = merge_all(decode_values(repo.read_values(snapshot, segment, ref))
                           for segment, ref in sorted(snapshot.value_runs.items()))
        cuts = rfm.cutpoints(merged)
        if not repo.mark_prepared(snapshot, prepared_json(cuts, as_of(source, snapshot))):
            return  # another delivery stored them (and starts the member pass), or the build ended
        logs.logger.info("rfm cut points", extra={"snapshot_id": snapshot.snapshot_id, "purchasers": cuts.users,
                                                  "distinct_monetary": len(merged.monetary)})
        start_members(snapshot, job, now)


def start_members(snapshot: repo.SnapshotRecord, job: BuildSegment, now: datetime) -> None:
    from chalicelib.audiences import builder  # builder registers this pass (through selectors)

    jobs = [BuildSegment(workspace_id=snapshot.workspace_id, audience_id=snapshot.audience_id,
                         snapshot_id=snapshot.snapshot_id, segment=segment, total_segments=snapshot.total_segments,
                         phase="members", inline=job.inline) for segment in range(snapshot.total_segments)]
    if job.inline:
        repo.mark_members_queued(snapshot)
        for member_job in jobs:
            builder.run_segment(member_job, now)
    else:
        builder.send(jobs)
        repo.mark_members_queued(snapshot)


FIRST_PASS: RfmFirstPass = RfmFirstPass()
