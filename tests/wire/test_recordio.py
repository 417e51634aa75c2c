"""RecordIO framing: records survive any chunking; every malformed stream gets a precise error."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from proto import recordio
from proto.recordio import (
    BadLengthError,
    Decoder,
    FrameTooLargeError,
    RecordIOError,
    TruncatedStreamError,
    encode,
)

# Lengths chosen to cross digit-count boundaries (1, 2, 3 and 4 digit length tokens).
RECORDS = [b"a", b"b" * 9, b"c" * 10, b"d" * 99, b"e" * 100, b'{"type":"HEARTBEAT"}', b"f" * 1234]
STREAM = b"".join(encode(record) for record in RECORDS)


def decode_chunks(chunks: list[bytes], decoder: Decoder | None = None) -> list[bytes]:
    decoder = decoder or Decoder()
    records: list[bytes] = []
    for chunk in chunks:
        records.extend(decoder.feed(chunk))
    decoder.close()
    return records


# --- encoding ---------------------------------------------------------------------------


def test_encode_prefixes_the_decimal_length_and_a_newline() -> None:
    assert encode(b'{"type":"HEARTBEAT"}') == b'20\n{"type":"HEARTBEAT"}'


def test_encode_keeps_payload_bytes_verbatim_including_newlines() -> None:
    assert encode(b"a\nb") == b"3\na\nb"


def test_encode_refuses_an_empty_record() -> None:
    with pytest.raises(BadLengthError, match="empty record"):
        encode(b"")


# --- decoding: chunking ------------------------------------------------------------------


def test_one_chunk_holding_several_records_yields_them_all_in_order() -> None:
    assert Decoder().feed(STREAM) == RECORDS


@pytest.mark.parametrize("split", range(len(STREAM) + 1))
def test_stream_split_in_two_at_every_byte_boundary_decodes_identically(split: int) -> None:
    assert decode_chunks([STREAM[:split], STREAM[split:]]) == RECORDS


def test_stream_fed_one_byte_at_a_time_decodes_identically() -> None:
    assert decode_chunks([STREAM[i : i + 1] for i in range(len(STREAM))]) == RECORDS


def test_every_three_way_split_of_a_small_stream_decodes_identically() -> None:
    small = [b"x", b"y" * 12, b"z" * 3]
    stream = b"".join(encode(r) for r in small)
    for first in range(len(stream) + 1):
        for second in range(first, len(stream) + 1):
            chunks = [stream[:first], stream[first:second], stream[second:]]
            assert decode_chunks(chunks) == small, (first, second)


def test_a_record_completes_only_when_its_last_byte_arrives() -> None:
    decoder = Decoder()
    assert decoder.feed(b"5\nhell") == []
    assert decoder.pending_bytes == 4
    assert decoder.feed(b"o5\nwor") == [b"hello"]
    assert decoder.feed(b"ld") == [b"world"]
    assert decoder.records_decoded == 2
    assert decoder.pending_bytes == 0


def test_empty_feeds_are_harmless() -> None:
    decoder = Decoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"1\nx") == [b"x"]
    assert decoder.feed(b"") == []
    decoder.close()


def test_a_large_record_in_many_chunks_is_reassembled_exactly() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    framed = encode(payload)
    chunks = [framed[i : i + 1500] for i in range(0, len(framed), 1500)]
    assert decode_chunks(chunks) == [payload]


def test_a_record_exactly_at_the_frame_limit_is_accepted() -> None:
    assert Decoder(max_frame_bytes=3).feed(b"3\nabc") == [b"abc"]


def test_leading_zeros_in_a_length_token_are_plain_decimal() -> None:
    assert Decoder().feed(b"003\nabc") == [b"abc"]


def test_closing_on_a_record_boundary_is_clean() -> None:
    decoder = Decoder()
    decoder.feed(STREAM)
    decoder.close()


# --- decoding: errors --------------------------------------------------------------------


def test_zero_length_is_rejected_naming_the_record() -> None:
    decoder = Decoder()
    with pytest.raises(BadLengthError, match=r"record 1 announces length 0") as caught:
        decoder.feed(b"1\na0\n")
    assert caught.value.record == 1
    assert caught.value.position == 3


@given(
    records=st.lists(st.binary(min_size=1, max_size=40), max_size=8),
    bad=st.sampled_from([b"0\n", b"x\n", b"-1\n", b"9999\n", b"1" * 30]),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_an_error_after_good_records_names_its_record_and_position_however_chunked(
    records: list[bytes], bad: bytes, cuts: list[int]
) -> None:
    good = b"".join(encode(record) for record in records)
    stream = good + bad + b"abc"
    decoder, got, at = Decoder(max_frame_bytes=100), [], 0
    with pytest.raises(RecordIOError) as caught:
        for cut in [*sorted(c for c in cuts if c <= len(stream)), len(stream)]:
            got.extend(decoder.feed(stream[at:cut]))
            at = cut
        decoder.close()
    got.extend(caught.value.complete)
    assert got == records and decoder.records_decoded == len(records)
    assert (caught.value.record, caught.value.position) == (len(records), len(good))
    with pytest.raises(RecordIOError):
        decoder.feed(b"1\na")  # unusable after an error


@pytest.mark.parametrize("token", [b"12a", b"-5", b"+5", b" 5", b"0x10", b"1.5", b"\xd9\xa3"])
def test_non_decimal_length_tokens_are_rejected(token: bytes) -> None:
    with pytest.raises(BadLengthError, match="not a decimal number"):
        Decoder().feed(token + b"\nabcdef")


def test_an_empty_length_token_is_rejected() -> None:
    with pytest.raises(BadLengthError, match=r"not a decimal number: b''"):
        Decoder().feed(b"\nabc")


def test_a_bad_length_token_is_rejected_before_its_newline_arrives() -> None:
    # A client should not wait for more bytes from a peer that already sent garbage.
    with pytest.raises(BadLengthError, match="not a decimal number"):
        Decoder().feed(b"HTTP/1.1 200")


def test_a_length_token_longer_than_the_digit_limit_is_rejected_without_a_newline() -> None:
    with pytest.raises(BadLengthError, match="longer than 20 digits"):
        Decoder().feed(b"1" * 21)


def test_a_length_token_longer_than_the_digit_limit_is_rejected_with_a_newline() -> None:
    with pytest.raises(BadLengthError, match="longer than 4 digits"):
        Decoder(max_length_digits=4).feed(b"00001\nx")


def test_a_token_of_exactly_the_digit_limit_is_parsed() -> None:
    # 20 digits is a legal token; the number itself is then over the frame limit.
    with pytest.raises(FrameTooLargeError, match="announces 99999999999999999999 bytes"):
        Decoder().feed(b"9" * 20 + b"\n")


def test_a_frame_above_the_limit_is_rejected_before_its_payload_is_buffered() -> None:
    decoder = Decoder(max_frame_bytes=1024)
    with pytest.raises(FrameTooLargeError, match="above the frame limit of 1024 bytes") as caught:
        decoder.feed(b"1025\n")
    assert caught.value.record == 0


def test_long_garbage_is_quoted_briefly() -> None:
    with pytest.raises(BadLengthError) as caught:
        Decoder().feed(b"x" * 100_000)
    assert len(str(caught.value)) < 200


def test_close_inside_a_payload_reports_how_much_arrived() -> None:
    decoder = Decoder()
    decoder.feed(b"1\na10\nabc")
    with pytest.raises(TruncatedStreamError, match="inside record 1: received 3 of 10 announced bytes"):
        decoder.close()


def test_close_inside_a_length_token_reports_the_partial_token() -> None:
    decoder = Decoder()
    decoder.feed(b"1\na12")
    with pytest.raises(TruncatedStreamError, match=r"inside the length token of record 1: b'12'"):
        decoder.close()


def test_records_completed_before_an_error_in_the_same_feed_are_kept_on_the_error() -> None:
    with pytest.raises(BadLengthError) as caught:
        Decoder().feed(b"1\na2\nbcjunk\n")
    assert caught.value.complete == [b"a", b"bc"]


def test_a_failed_decoder_keeps_raising_the_same_error() -> None:
    decoder = Decoder()
    with pytest.raises(BadLengthError) as first:
        decoder.feed(b"0\n")
    with pytest.raises(BadLengthError) as again:
        decoder.feed(b"1\na")
    assert again.value is first.value
    with pytest.raises(BadLengthError):
        decoder.close()


def test_feeding_after_close_is_an_error() -> None:
    decoder = Decoder()
    decoder.close()
    with pytest.raises(RecordIOError, match="decoder is closed"):
        decoder.feed(b"1\na")


@pytest.mark.parametrize(
    "error_class", [BadLengthError, FrameTooLargeError, TruncatedStreamError, RecordIOError]
)
def test_every_error_is_a_value_error(error_class: type[RecordIOError]) -> None:
    assert issubclass(error_class, ValueError)
    assert issubclass(error_class, recordio.RecordIOError)


@pytest.mark.parametrize(("frame", "digits"), [(0, 20), (1, 0), (-1, 5)])
def test_nonsensical_limits_are_refused(frame: int, digits: int) -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        Decoder(max_frame_bytes=frame, max_length_digits=digits)


# --- properties --------------------------------------------------------------------------


@st.composite
def records_and_chunking(draw: st.DrawFn) -> tuple[list[bytes], list[bytes]]:
    records = draw(st.lists(st.binary(min_size=1, max_size=300), max_size=12))
    stream = b"".join(encode(record) for record in records)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    bounds = [0, *cuts, len(stream)]
    return records, [stream[start:end] for start, end in itertools.pairwise(bounds)]


@given(records_and_chunking())
def test_property_any_records_in_any_chunking_decode_to_themselves(
    case: tuple[list[bytes], list[bytes]],
) -> None:
    records, chunks = case
    assert decode_chunks(chunks) == records


@given(records_and_chunking(), st.data())
def test_property_a_stream_cut_short_inside_a_record_is_reported_truncated(
    case: tuple[list[bytes], list[bytes]], data: st.DataObject
) -> None:
    records, chunks = case
    assume(records)
    stream = b"".join(chunks)
    boundaries = {0}
    for record in records:
        boundaries.add(max(boundaries) + len(encode(record)))
    cut = data.draw(st.integers(0, len(stream)).filter(lambda n: n not in boundaries))
    decoder = Decoder()
    decoder.feed(stream[:cut])
    with pytest.raises(TruncatedStreamError):
        decoder.close()
