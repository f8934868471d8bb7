"""Short link codes and targets, pure.

A code is base62 (URL-safe, no punctuation). A link made through the API gets 8 random
characters (47 bits; a taken code is drawn again). A link made while rendering a message
gets 12 characters (71 bits) of an HMAC, under the deployment's key, of the message key
and the URL: the same message renders the same code on every retry, so a re-render never
makes a second link, and nobody without the key can derive another recipient's code.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from urllib.parse import quote, urlsplit, urlunsplit

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
RANDOM_LENGTH = 8
MESSAGE_LENGTH = 12
CODE = re.compile(r"^[0-9A-Za-z]{4,16}$")
MAX_URL = 2_048  # the longest URL every browser and mail client keeps whole
URL_WORDS = f"an http or https URL of at most {MAX_URL} characters, with a host and no spaces"
# Everything printable in ASCII but space: kept as written; anything else is percent-encoded.
_KEEP = "".join(c for c in string.printable if c not in string.whitespace)


def _base62(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(ALPHABET[digit])
    return "".join(chars)


def random_code() -> str:
    return _base62(secrets.token_bytes(8), RANDOM_LENGTH)


def message_code(key: bytes, message_key: str, url: str) -> str:
    """The code of ``url`` in the message ``message_key``: always the same for the pair."""
    digest = hmac.new(key, f"v1\x00{message_key}\x00{url}".encode(), hashlib.sha256).digest()
    return _base62(digest[:16], MESSAGE_LENGTH)


def is_code(text: str) -> bool:
    return bool(CODE.fullmatch(text))


def target(url: str) -> str:
    """``url`` as a redirect target: http or https with a host, no spaces or control
    characters, non-ASCII characters percent-encoded (an internationalised host in its
    IDNA form), at most MAX_URL characters. Raises ValueError in words otherwise."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValueError(f"{URL_WORDS}: it holds spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(URL_WORDS)
    netloc = parts.netloc
    if not netloc.isascii():
        try:
            host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{URL_WORDS}: its host is not a valid domain name") from None
        netloc = netloc.replace(parts.hostname, host, 1) if parts.hostname in netloc else host
        if not netloc.isascii():
            raise ValueError(f"{URL_WORDS}: non-ASCII characters in the user or port part")
    normal = urlunsplit((parts.scheme.lower(), netloc, quote(parts.path, safe=_KEEP),
                         quote(parts.query, safe=_KEEP), quote(parts.fragment, safe=_KEEP)))
    if len(normal) > MAX_URL:
        raise ValueError(f"{URL_WORDS}: this one has {len(normal)} once encoded")
    return normal
