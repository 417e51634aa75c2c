"""RecordIO framing for Mesos v1 HTTP streams: a pure encoder and an incremental decoder.

Mesos streams events (scheduler SUBSCRIBE, executor SUBSCRIBE) as a sequence of
records, each written as `<length in ASCII decimal>\\n<exactly length bytes>`.
HTTP chunk boundaries mean nothing: a record may be split across many chunks
and one chunk may carry several records, so the decoder keeps state between
`feed` calls and returns only complete records.

Callers: the framework's Mesos client and the executor (decoding event streams),
the harness (encoding them). This module is sans-IO: it never reads a socket,
sleeps or logs, and it knows nothing about JSON or protobuf payloads.

Limits: Mesos never writes a zero length, so one is rejected; the frame size
and the number of length digits are capped (4 MiB and 20 digits by default, as
common clients do) so that a corrupt or hostile peer cannot make us buffer
without bound.
"""

from __future__ import annotations

__all__ = [
    "BadLengthError",
    "Decoder",
    "FrameTooLargeError",
    "RecordIOError",
    "TruncatedStreamError",
    "encode",
]

#: The most bytes of a bad length token quoted in an error message.
_QUOTE_LIMIT = 32


class RecordIOError(ValueError):
    """The byte stream is not valid RecordIO.

    `record` is the 0-based index of the record being decoded when the problem was
    seen and `position` the stream offset (bytes since the first `feed`) where it
    starts. `complete` holds records that the failing `feed` call had already
    decoded in full before reaching the problem, so a caller may still act on them.
    """

    def __init__(self, message: str, *, record: int, position: int) -> None:
        super().__init__(message)
        self.record = record
        self.position = position
        self.complete: list[bytes] = []


class BadLengthError(RecordIOError):
    """The length token is empty, not decimal digits, too long, or zero."""


class FrameTooLargeError(RecordIOError):
    """A record announces more bytes than the decoder's frame limit."""


class TruncatedStreamError(RecordIOError):
    """The stream ended inside a length token or inside a record."""


def encode(record: bytes) -> bytes:
    """Frame one record. An empty record cannot be framed: Mesos never sends length 0."""
    if not record:
        raise BadLengthError(
            "cannot encode an empty record: RecordIO lengths are never 0", record=0, position=0
        )
    return b"%d\n%b" % (len(record), record)


def _quote(token: bytes | bytearray | memoryview) -> str:
    data = bytes(token[:_QUOTE_LIMIT])
    suffix = "..." if len(token) > _QUOTE_LIMIT else ""
    return f"{data!r}{suffix}"


class Decoder:
    """Incremental RecordIO decoder: `feed` bytes as they arrive, get complete records back.

    Theory of operation: unconsumed input lives in one bytearray; `_offset` marks
    where unconsumed bytes start. Parsing advances `_offset` without copying; the
    consumed prefix is dropped once per `feed`, when at most one partial record
    remains, so total copying is linear in the stream size however it is chunked.
    `_expected` is the announced length of the record whose payload we are
    waiting for, or None while we are reading a length token.

    After any error the decoder is unusable: every later call raises the same error,
    because the framing position in the stream is lost.
    """

    def __init__(self, max_frame_bytes: int = 4 * 1024 * 1024, max_length_digits: int = 20) -> None:
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be at least 1, got {max_frame_bytes}")
        if max_length_digits < 1:
            raise ValueError(f"max_length_digits must be at least 1, got {max_length_digits}")
        self.max_frame_bytes = max_frame_bytes
        self.max_length_digits = max_length_digits
        self._buffer = bytearray()
        self._offset = 0
        self._expected: int | None = None
        # Stream offset of _buffer[0], and how many records have been returned.
        self._base = 0
        self._records = 0
        self._error: RecordIOError | None = None
        self._closed = False

    @property
    def records_decoded(self) -> int:
        """How many complete records this decoder has returned so far."""
        return self._records

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not yet returned as part of a record (partial token or payload)."""
        return len(self._buffer) - self._offset

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every record they complete, in stream order."""
        self._check_usable()
        if data:
            self._buffer += data
        records: list[bytes] = []
        try:
            self._extract(records)
        except RecordIOError as error:
            error.complete = records
            self._error = error
            raise
        finally:
            self._compact()
        return records

    def close(self) -> None:
        """Declare end of stream; raise TruncatedStreamError if it stopped mid-record."""
        self._check_usable()
        self._closed = True
        if self._expected is not None:
            received = len(self._buffer) - self._offset
            self._fail(
                TruncatedStreamError(
                    f"stream ended inside record {self._records}: received {received} of "
                    f"{self._expected} announced bytes",
                    record=self._records,
                    position=self._base + self._offset,
                )
            )
        if self.pending_bytes:
            token = self._buffer[self._offset :]
            self._fail(
                TruncatedStreamError(
                    f"stream ended inside the length token of record {self._records}: {_quote(token)}",
                    record=self._records,
                    position=self._base + self._offset,
                )
            )

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RecordIOError(
                "decoder is closed: no more data is expected",
                record=self._records,
                position=self._base + self._offset,
            )

    def _fail(self, error: RecordIOError) -> None:
        self._error = error
        raise error

    def _extract(self, records: list[bytes]) -> None:
        # The hot loop of every Mesos stream (two status updates per launched task): state lives in
        # locals and is written back on the way out; a bad length token goes to _parse_length,
        # which raises with the position, once the state it reports from is written back.
        buffer = self._buffer
        end = len(buffer)
        offset, expected, count = self._offset, self._expected, self._records
        digits, max_frame = self.max_length_digits + 1, self.max_frame_bytes
        find, append = buffer.find, records.append
        # One memoryview per feed: slicing it copies each payload exactly once.
        try:
            with memoryview(buffer) as view:
                while True:
                    if expected is None:
                        newline = find(b"\n", offset, offset + digits)
                        if newline < 0:
                            self._offset, self._records = offset, count
                            self._check_partial_token(buffer, end)
                            return
                        token = buffer[offset:newline]
                        if token.isdigit() and 0 < (length := int(token)) <= max_frame:
                            expected = length
                        else:
                            self._offset, self._records = offset, count
                            expected = self._parse_length(buffer, newline)  # raises, saying why
                        offset = newline + 1
                    stop = offset + expected
                    if stop > end:
                        return
                    append(bytes(view[offset:stop]))
                    offset, expected = stop, None
                    count += 1
        finally:
            self._offset, self._expected, self._records = offset, expected, count

    def _check_partial_token(self, buffer: bytearray, end: int) -> None:
        """Reject a length token as soon as it cannot become valid, without waiting for '\\n'."""
        # Copy at most one byte beyond the limit: garbage input may be megabytes long.
        token = buffer[self._offset : min(end, self._offset + self.max_length_digits + 1)]
        if len(token) > self.max_length_digits:
            raise BadLengthError(
                f"length token of record {self._records} is longer than {self.max_length_digits} "
                f"digits: {_quote(token)}",
                record=self._records,
                position=self._base + self._offset,
            )
        if token and not token.isdigit():
            raise BadLengthError(
                f"length token of record {self._records} is not a decimal number: {_quote(token)}",
                record=self._records,
                position=self._base + self._offset,
            )

    def _parse_length(self, buffer: bytearray, newline: int) -> int:
        token = buffer[self._offset : newline]
        position = self._base + self._offset
        # bytes.isdigit accepts ASCII 0-9 only, which excludes signs, spaces and "0x".
        if not token.isdigit():
            raise BadLengthError(
                f"length token of record {self._records} is not a decimal number: {_quote(token)}",
                record=self._records,
                position=position,
            )
        length = int(token)
        if length == 0:
            raise BadLengthError(
                f"record {self._records} announces length 0 (Mesos never sends empty records)",
                record=self._records,
                position=position,
            )
        if length > self.max_frame_bytes:
            raise FrameTooLargeError(
                f"record {self._records} announces {length} bytes, above the frame limit of "
                f"{self.max_frame_bytes} bytes",
                record=self._records,
                position=position,
            )
        return length

    def _compact(self) -> None:
        if self._offset:
            del self._buffer[: self._offset]
            self._base += self._offset
            self._offset = 0
