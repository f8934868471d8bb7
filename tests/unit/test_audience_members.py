"""Packing audience members into pages: any set of ids, any bounds."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.audiences import members

# User ids as the API admits them: 1-128 characters, no control characters.
user_ids = st.text(alphabet=st.characters(min_codepoint=0x20, exclude_categories=("Cc", "Cs")), min_size=1, max_size=128)
id_sets = st.sets(user_ids, max_size=600)


@given(id_sets, st.integers(min_value=1, max_value=50), st.integers(min_value=2_100, max_value=8_000))
@settings(max_examples=150, deadline=None)
def test_any_set_of_ids_packs_into_pages_whose_concatenation_is_the_sorted_set(ids, max_ids, max_bytes):
    pages = list(members.pack(sorted(ids), max_ids=max_ids, max_bytes=max_bytes))

    assert [u for page in pages for u in page] == sorted(ids)
    assert all(page for page in pages)
    assert all(len(page) <= max_ids for page in pages)
    assert all(sum(members.raw_size(u) for u in page) <= max_bytes for page in pages)


@given(id_sets)
@settings(max_examples=100, deadline=None)
def test_a_page_reads_back_as_it_was_written(ids):
    for page in members.pack(sorted(ids)):
        assert members.decode(members.encode(page)) == page


@given(id_sets)
@settings(max_examples=100, deadline=None)
def test_pages_are_full_except_where_the_next_id_would_break_a_bound(ids):
    pages = list(members.pack(sorted(ids), max_ids=10, max_bytes=4_000))
    for page, following in zip(pages, pages[1:]):
        size = sum(members.raw_size(u) for u in page)
        assert len(page) == 10 or size + members.raw_size(following[0]) > 4_000


@given(st.lists(id_sets, max_size=6))
@settings(max_examples=100, deadline=None)
def test_merging_sorted_runs_gives_the_sorted_union_once_each(runs):
    assert list(members.merge(sorted(run) for run in runs)) == sorted(set().union(*runs))


@given(id_sets, st.sets(user_ids, max_size=50))
@settings(max_examples=100, deadline=None)
def test_a_membership_check_finds_exactly_the_ids_on_the_pages(ids, candidates):
    pages = list(members.pack(sorted(ids), max_ids=7, max_bytes=4_000))
    firsts = [page[0] for page in pages]
    found = set()
    for candidate in candidates:
        at = members.page_index(firsts, candidate)
        if at is not None:
            found |= members.present(pages[at], [candidate])
    assert found == candidates & ids


def test_ids_out_of_order_or_repeated_are_refused():
    with pytest.raises(ValueError):
        list(members.pack(["b", "a"]))
    with pytest.raises(ValueError):
        list(members.pack(["a", "a"]))


def test_a_thousand_of_the_longest_ids_stay_far_below_the_item_limit():
    ids = sorted(f"{i:06d}" + "\u4e2d" * 122 for i in range(5_000))  # 128 characters, 372 UTF-8 bytes
    pages = list(members.pack(ids))
    assert max(len(members.encode(page)) for page in pages) < 100_000
    assert all(sum(members.raw_size(u) for u in page) <= members.MAX_RAW_BYTES for page in pages)


def test_a_thousand_short_ids_fill_one_page_of_a_few_kilobytes():
    pages = list(members.pack(sorted(f"user-{i:07d}" for i in range(1_000))))
    assert len(pages) == 1
    assert len(members.encode(pages[0])) < 4_096
