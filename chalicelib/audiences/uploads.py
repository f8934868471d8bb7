"""Uploaded id lists, read as plain data (pure, no I/O).

An id list is a CSV of one id per line: the first column is read, other columns are
ignored. A first line whose first cell is ``user_id``, ``phone`` or ``email`` (any case)
is a header and is skipped. Cells are stripped; blank lines are skipped (they are not
rows); an id seen before counts as a duplicate. What a valid id is:

* ``user_id``: a user id as profiles take it (1-128 characters, no control character).
* ``phone``: anything phonenumbers reads as a possible number, given the workspace's
  default region for numbers without ``+`` and a country code (``138 0013 8000`` in
  region CN is ``+8613800138000``); kept in E.164, as profiles store phones.
* ``email``: ``local@domain.tld``, lower-cased (profiles find emails in any case).

With ``encrypted`` every cell is an AES-256-GCM ciphertext of the phone or email
(``crypto``): a cell that does not decrypt, or decrypts to an invalid id, is malformed.

The bytes are checked as they stream: a NUL byte, bytes that are not UTF-8, a known
binary signature (PNG, ZIP, GZIP, PDF...) or a line longer than ``MAX_LINE_BYTES`` make
the file ``NotCsv`` with a reason in words. At most one line is held at a time.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import phonenumbers
from pydantic import Field, model_validator

from chalicelib.profiles.schemas import user_id_problem
from chalicelib.schemas import JsonBool, Request, refuse

ID_TYPES = ("user_id", "phone", "email")
HEADERS = frozenset(ID_TYPES)
MAX_LINE_BYTES = 4096          # one id and a few other columns; more is not an id list
MAX_BAD_LINES = 20             # line numbers kept in the report
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_BOM = b"\xef\xbb\xbf"
_SIGNATURES = (
    (b"\x89PNG", "a PNG image"), (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one: save it as CSV)"),
    (b"\x1f\x8b", "a GZIP archive"), (b"%PDF", "a PDF document"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"), (b"\xd0\xcf\x11\xe0", "an old Excel or Word document (save it as CSV)"),
    (b"\xff\xfe", "UTF-16 text (save it as UTF-8)"), (b"\xfe\xff", "UTF-16 text (save it as UTF-8)"),
)


class NotCsv(Exception):
    """The file is not a CSV id list; the message says why, in words."""


@dataclass
class Report:
    """What reading a file found. ``rows`` counts non-blank lines after any header;
    ``malformed`` and ``duplicates`` are rows; ``matched``/``unmatched`` are distinct valid
    ids that did / did not lead to a profile (set by the build)."""

    rows: int = 0
    malformed: int = 0
    duplicates: int = 0
    matched: int = 0
    unmatched: int = 0
    bad_lines: list[int] = field(default_factory=list)

    def bad(self, line_number: int) -> None:
        self.malformed += 1
        if len(self.bad_lines) < MAX_BAD_LINES:
            self.bad_lines.append(line_number)

    def to_json(self) -> dict[str, object]:
        return {"rows": self.rows, "matched": self.matched, "unmatched": self.unmatched, "malformed": self.malformed,
                "duplicates": self.duplicates, "bad_lines": list(self.bad_lines)}


def sniff(head: bytes) -> None:
    """Refuse a file whose first bytes show it is not text."""
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            raise NotCsv(f"the file is {what}, not a CSV of ids")


def lines(chunks: Iterable[bytes], max_line: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The text lines of a byte stream (``\\n`` or ``\\r\\n``), decoded as UTF-8 as they come,
    holding at most one line. Raises NotCsv on binary content."""
    pending = b""
    number = 0
    first = True
    for chunk in chunks:
        if first and chunk:
            sniff(chunk)
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM):]
            first = False
        if b"\x00" in chunk:
            raise NotCsv(f"the file holds NUL bytes (near line {number + 1}): it is binary, not a CSV of ids")
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            number += 1
            yield _decode(raw, number, max_line)
        if len(pending) > max_line:
            raise NotCsv(f"line {number + 1} is longer than {max_line} bytes: a CSV of ids has one short id a line")
    if pending:
        yield _decode(pending, number + 1, max_line)


def _decode(raw: bytes, number: int, max_line: int) -> str:
    if len(raw) > max_line:
        raise NotCsv(f"line {number} is longer than {max_line} bytes: a CSV of ids has one short id a line")
    try:
        return raw.rstrip(b"\r").decode("utf-8")  # a split at \n never cuts a UTF-8 sequence
    except UnicodeDecodeError:
        raise NotCsv(f"line {number} is not UTF-8 text: save the file as CSV (UTF-8)") from None


def first_cell(line: str) -> str:
    """The first column of a CSV line, unquoted and stripped."""
    if '"' not in line:
        return line.split(",", 1)[0].strip()
    try:
        return next(csv.reader([line]), [""])[0].strip()
    except (csv.Error, IndexError):
        return line.strip()


def normalise(value: str, id_type: str, region: str | None) -> str | None:
    """The id as profiles store it, or None when it is not a valid id of this type."""
    if id_type == "user_id":
        return value if value and user_id_problem(value) is None else None
    if id_type == "email":
        lowered = value.lower()
        return lowered if len(lowered) <= 254 and _EMAIL.fullmatch(lowered) else None
    if len(value) > 32:
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def read_ids(text_lines: Iterable[str], id_type: str, region: str | None, report: Report,
             decrypt: Callable[[str], str | None] | None = None) -> Iterator[str]:
    """The distinct valid ids of a file's lines, normalised, in file order; counts rows,
    malformed rows (with their line numbers) and duplicates into ``report``. With
    ``decrypt`` each cell is decrypted first (None: it does not decrypt: malformed).
    Holds the set of distinct ids seen (the dedupe)."""
    seen: set[str] = set()
    for number, line in enumerate(text_lines, start=1):
        cell = first_cell(line)
        if not cell:
            continue
        if number == 1 and cell.lower() in HEADERS:
            continue
        report.rows += 1
        plain = decrypt(cell) if decrypt is not None else cell
        value = normalise(plain.strip(), id_type, region) if plain is not None else None
        if value is None:
            report.bad(number)
            continue
        if value in seen:
            report.duplicates += 1
            continue
        seen.add(value)
        yield value


class UploadSource(Request):
    """``{"type": "upload", "id_type": "user_id" | "phone" | "email", "encrypted"?: bool}``."""

    type: Literal["upload"]
    id_type: Literal["user_id", "phone", "email"]
    encrypted: JsonBool = Field(False, description="cells are AES-256-GCM ciphertexts of phones or emails "
                                                   "(base64 of 12-byte nonce || ciphertext || tag)")

    @model_validator(mode="after")
    def _encrypted_addresses_only(self) -> "UploadSource":
        if self.encrypted and self.id_type == "user_id":
            refuse([(("encrypted",), "only phone and email lists can be encrypted")])
        return self
