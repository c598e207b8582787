"""The Singer message writer: msgspec encoding, records flushed together with the next STATE."""

from __future__ import annotations

import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import Message, RecordMessage

from tap_hubspot_associations.errors import OutputClosed
from tap_hubspot_associations.redaction import SECRETS

FLUSH_BYTES = 1 << 16


class RecordBufferingWriter(MsgSpecWriter):
    """Collects RECORD lines and writes them out with the next other message.

    The SDK's writers flush after every message, a system call per record (and with
    PYTHONUNBUFFERED, as many images set, stdout has no buffer at all). Writing records
    out before each STATE and SCHEMA keeps what matters for resuming: every STATE a
    target reads comes after all the records it covers. Records still held when the tap
    dies come after the last STATE written, so a resume from it reads them again.
    Every secret the tap knows is masked in what it writes (a hostile server could put
    one in a label).
    """

    def __init__(self) -> None:
        self._held = bytearray()
        self.writing = False
        """True while bytes are on their way to stdout: a signal arriving then must not
        write anything more, or a line would be cut by another."""

    def write_message(self, message: Message) -> None:
        self._held += self.format_message(message)
        if len(self._held) >= FLUSH_BYTES or not isinstance(message, RecordMessage):
            self._flush()

    def write_record_lines(self, lines: bytes) -> None:
        """Hold RECORD lines encoded elsewhere (a batch's records at once)."""
        self._held += lines
        if len(self._held) >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        self.writing = True
        try:
            sys.stdout.buffer.write(SECRETS.redact_bytes(bytes(self._held)))
            sys.stdout.flush()
        except BrokenPipeError:
            raise OutputClosed from None
        finally:
            self.writing = False
        self._held.clear()
