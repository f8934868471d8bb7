"""Reading uploaded id lists (pure): lines, headers, normalising, dedupe, binary files, encrypted cells."""
from __future__ import annotations

import os

import phonenumbers
import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.audiences import crypto, uploads


def read(text: str | bytes, id_type: str = "phone", region: str | None = "CN", decrypt=None, chunk: int = 7):
    data = text.encode() if isinstance(text, str) else text
    report = uploads.Report()
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    ids = list(uploads.read_ids(uploads.lines(chunks), id_type, region, report, decrypt))
    return ids, report


def test_phones_in_national_and_international_forms_become_one_e164_each():
    ids, report = read("phone\n138 0013 8000\n+86 138-0013-8000\ncall me\n(010) 8888 6666\n"
                       "+1 (415) 555-2671\n+44 20 7946 0958\n")
    assert ids == ["+8613800138000", "+861088886666", "+14155552671", "+442079460958"]
    assert report.rows == 6 and report.duplicates == 1 and report.malformed == 1 and report.bad_lines == [4]


def test_without_a_default_region_a_national_number_is_malformed():
    ids, report = read("13800138000\n+8613800138000\n", region=None)
    assert ids == ["+8613800138000"] and report.bad_lines == [1]


def test_blank_lines_and_whitespace_are_skipped_and_line_numbers_stay_true():
    ids, report = read("\r\n  alice@Example.COM  \r\n\r\n\n not-an-email \r\nBOB@example.com,ignored,columns\r\n",
                       id_type="email")
    assert ids == ["alice@example.com", "bob@example.com"]
    assert report.rows == 3 and report.malformed == 1 and report.bad_lines == [5]


def test_a_header_is_optional_and_only_on_the_first_line():
    assert read("user_id\nu1\nuser_id\n", id_type="user_id")[0] == ["u1", "user_id"]
    assert read("u1\nu2\n", id_type="user_id")[0] == ["u1", "u2"]
    assert read('"Email",name\n"a@b.co","A"\n', id_type="email")[0] == ["a@b.co"]


def test_a_utf8_bom_and_a_missing_final_newline_are_fine():
    assert read(b"\xef\xbb\xbfuser_id\nu1\nu2", id_type="user_id")[0] == ["u1", "u2"]


def test_only_the_first_bad_line_numbers_are_kept():
    ids, report = read("\n".join(["x"] * 100), id_type="email")
    assert report.malformed == 100 and report.bad_lines == list(range(1, uploads.MAX_BAD_LINES + 1))


@pytest.mark.parametrize("data, words", [
    (b"\x89PNG\r\n\x1a\n" + os.urandom(200), "PNG image"),
    (b"PK\x03\x04" + os.urandom(200), "ZIP archive"),
    (b"a@b.co\nc@d.co\n\x00\x00\x00\n", "NUL bytes"),
    (b"a@b.co\n\xff\xfe\xfa\n", "line 2 is not UTF-8"),
    (b"x" * 10_000, "longer than"),
])
def test_a_file_that_is_not_csv_is_refused_with_a_reason(data, words):
    with pytest.raises(uploads.NotCsv, match=words):
        read(data, id_type="email", chunk=1024)


def test_encrypted_cells_are_decrypted_and_a_cell_that_does_not_decrypt_is_malformed():
    key, other = crypto.new_key(), crypto.new_key()
    lines = [crypto.encrypt(key, "Alice@Example.com"), crypto.encrypt(other, "bob@example.com"), "not base64!",
             crypto.encrypt(key, "alice@example.com"), crypto.encrypt(key, "no-at-sign")]
    ids, report = read("\n".join(lines), id_type="email", decrypt=crypto.decryptor([key]))
    assert ids == ["alice@example.com"]
    assert report.rows == 5 and report.duplicates == 1 and report.bad_lines == [2, 3, 5]


def test_a_previous_key_still_decrypts_after_a_rotation():
    old, new = crypto.new_key(), crypto.new_key()
    assert crypto.decrypt([new, old], crypto.encrypt(old, "+8613800138000")) == "+8613800138000"
    assert crypto.decrypt([new], crypto.encrypt(old, "+8613800138000")) is None


def test_a_key_is_the_base64_of_32_bytes():
    key = crypto.new_key()
    import base64
    assert crypto.parse_key(base64.b64encode(key).decode()) == key
    assert crypto.parse_key(base64.urlsafe_b64encode(key).decode().rstrip("=")) == key
    assert crypto.parse_key(base64.b64encode(key[:16]).decode()) is None
    assert crypto.parse_key("not a key") is None


CN_MOBILES = st.integers(min_value=0, max_value=99_999_999).map(lambda n: f"138{n:08d}")


def _formats(number: str) -> st.SearchStrategy[str]:
    parsed = phonenumbers.parse(number, "CN")
    return st.sampled_from([
        number, f"{number[:3]} {number[3:7]} {number[7:]}", f"{number[:3]}-{number[3:7]}-{number[7:]}",
        "+86" + number, "+86 " + number, "0086" + number, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL), f"  {number}  ", f'"{number}"',
    ])


@settings(max_examples=60, deadline=None)
@given(st.lists(CN_MOBILES.flatmap(lambda n: st.tuples(st.just(n), _formats(n))), min_size=1, max_size=30),
       st.lists(st.sampled_from(["", "   ", "abc", "12", "+", "not a phone"]), max_size=10),
       st.randoms(use_true_random=False), st.integers(min_value=1, max_value=64))
def test_any_mix_of_formats_blanks_and_junk_reads_as_the_distinct_numbers(numbers, junk, rnd, chunk):
    lines = [written for _, written in numbers] + junk
    rnd.shuffle(lines)
    ids, report = read("\n".join(lines), chunk=chunk)
    expected = {"+86" + n for n, _ in numbers}
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))
    real_junk = [j for j in junk if j.strip()]
    assert report.rows == len(numbers) + len(real_junk)
    assert report.malformed == len(real_junk)
    assert report.duplicates == len(numbers) - len(expected)
    assert all(lines[n - 1].strip() in real_junk for n in report.bad_lines)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=20), max_size=30), st.integers(min_value=1, max_value=50))
def test_lines_come_back_whatever_the_chunking(texts, chunk):
    texts = [t.replace("\n", "").replace("\r", "").replace("\x00", "").lstrip("\ufeff") for t in texts]
    data = "".join(t + ("\r\n" if i % 2 else "\n") for i, t in enumerate(texts)).encode()
    if any(data.startswith(s) for s, _ in uploads._SIGNATURES):
        return
    got = list(uploads.lines([data[i:i + chunk] for i in range(0, len(data), chunk)]))
    assert got == texts
