"""The first pass's stored summary: exact for every value, cut into chunks that fit an item."""
from __future__ import annotations

import random
import zlib

from chalicelib.audiences import rfm, rfm_build


def test_value_counts_round_trip_exactly_through_several_chunks() -> None:
    rng = random.Random(7)
    values = rfm.collect(rfm.RfmFacts(rng.randrange(3000), rng.randrange(1, 400), rng.random() * 10_000)
                         for _ in range(30_000))
    chunks = rfm_build.encode_values(values)

    assert len(chunks) > 1  # 30,000 distinct floats are more than one chunk's raw bytes
    assert all(len(zlib.decompress(c)) <= rfm_build.CHUNK_RAW_BYTES and len(c) < 350_000 for c in chunks)
    back = rfm_build.decode_values(chunks)
    assert (back.recency, back.frequency, back.monetary) == (values.recency, values.frequency, values.monetary)


def test_an_empty_segment_writes_one_chunk_that_decodes_to_nothing() -> None:
    chunks = rfm_build.encode_values(rfm.RfmValues())
    assert len(chunks) == 1 and rfm_build.decode_values(chunks).users == 0


def test_merged_parts_give_the_cut_points_of_the_whole() -> None:
    rng = random.Random(3)
    facts = [rfm.RfmFacts(rng.randrange(100), rng.randrange(1, 9), round(rng.random() * 500, 2)) for _ in range(999)]
    parts = [rfm_build.decode_values(rfm_build.encode_values(rfm.collect(facts[i::4]))) for i in range(4)]
    assert rfm.cutpoints(rfm_build.merge_all(parts)) == rfm.cutpoints(rfm.collect(facts))
