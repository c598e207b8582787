"""Redaction: every line the tap writes passes here, with every secret it knows masked.

The secrets are the configured credentials (every setting the schema marks secret, from
files and the environment, known before the settings are even validated) and every token
HubSpot issues during the run, masked on stderr and stdout alike; and the values of
`stream_map_config`, masked on stderr only: a map may write them into records on
purpose, and they may equal ordinary data ("companies", an id), which masking would
corrupt. Text from HubSpot is untrusted: a server may echo the
Authorization header or a posted form into any message, and a message may show an
excerpt cut from a secret (a file of ids that is really the config file). So on stderr
each secret is masked whole, and so is any run of `EXCERPT` characters of it; on stdout,
where records go, each secret is masked whole. "Whole" includes the forms a server may
echo a secret in: URL-encoded (a posted form) and escaped inside a JSON string.

`SECRETS` is one per process, as stdout and stderr are.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import TextIO
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
EXCERPT = 8
"""A run of this many characters of a secret is masked wherever it appears."""
MIN_SECRET = 4
"""Shorter values would mask ordinary text; no real token is this short."""


class Secrets:
    """The secrets known so far, and the masking of text written out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._whole: tuple[str, ...] = ()
        self._excerpts: tuple[str, ...] = ()
        self._whole_bytes: tuple[bytes, ...] = ()
        self._on_stdout: set[str] = set()

    def add(self, value: object, *, on_stdout: bool = True) -> None:
        """Know `value` (any type a setting may have) as a secret from now on;
        `on_stdout`: masked in records too, not only on stderr."""
        if value is None or isinstance(value, bool):
            return
        secret = str(value).strip()
        if len(secret) < MIN_SECRET:
            return
        with self._lock:
            if on_stdout and secret not in self._on_stdout:
                self._on_stdout.add(secret)
                stdout = {form for item in self._on_stdout for form in encoded_forms(item)}
                ordered = sorted(stdout, key=len, reverse=True)
                self._whole_bytes = tuple(item.encode() for item in ordered)
            if secret in self._secrets:
                return
            self._secrets.add(secret)
            whole = sorted({*self._whole, *encoded_forms(secret)}, key=len, reverse=True)
            excerpts = {
                item[start : start + EXCERPT]
                for item in self._secrets
                if len(item) > EXCERPT
                for start in range(len(item) - EXCERPT + 1)
            }
            self._whole = tuple(whole)
            self._excerpts = tuple(sorted(excerpts))

    def redact(self, text: str) -> str:
        """`text` with every secret, and every excerpt of one, masked."""
        for secret in self._whole:
            if secret in text:
                text = text.replace(secret, MASK)
        for excerpt in self._excerpts:
            if excerpt in text:
                text = text.replace(excerpt, MASK)
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        """`data` (whole Singer messages) with every secret known `on_stdout` masked."""
        for secret in self._whole_bytes:
            if secret in data:
                data = data.replace(secret, MASK.encode())
        return data


def encoded_forms(secret: str) -> set[str]:
    """`secret` as written, URL-encoded (both ways) and escaped in a JSON string."""
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }


SECRETS = Secrets()


class RedactingStream:
    """A text stream that masks secrets in everything written to it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(SECRETS.redact(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self) -> str:
        return self._stream.encoding


def redact_stderr() -> None:
    """Route everything written to stderr from now on through the redaction; logging
    handlers made later write to it too."""
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)
