"""The pipeline's response parser, sans-IO: framing, split bytes, several answers per read, errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.mesos.pipeline import MAX_BODY, HTTPResponseError, Response, ResponseParser

ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nContent-Type: text/plain\r\n\r\n"
REJECTED = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 27\r\n\r\nFramework cannot be found\r\n"
CHUNKED = (
    b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;ext=1\r\nNo \r\n"  # a chunk extension is ignored
    b"10\r\nleader elected\r\n\r\n"
    b"0\r\nX-Trailer: ignored\r\n\r\n"
)
REDIRECT = (
    b"HTTP/1.1 307 Temporary Redirect\r\nLocation: //m2:5050/api/v1/scheduler\r\nContent-Length: 0\r\n\r\n"
)
STREAM = ACCEPTED + REJECTED + CHUNKED + REDIRECT


def parse_all(data: bytes, cuts: list[int]) -> list[Response]:
    parser, out, at = ResponseParser(), [], 0
    for cut in [*sorted(cuts), len(data)]:
        out.extend(parser.feed(data[at:cut]))
        at = cut
    assert parser.feed_eof() is None  # ended cleanly between responses
    return out


def summary(responses: list[Response]) -> list[tuple[int, bytes, bool]]:
    return [(r.status, r.body, r.keep_alive) for r in responses]


EXPECTED = [
    (202, b"", True),
    (400, b"Framework cannot be found\r\n", True),
    (503, b"No leader elected\r\n", True),
    (307, b"", True),
]


def test_four_answers_in_one_read() -> None:
    responses = parse_all(STREAM, [])
    assert summary(responses) == EXPECTED
    assert responses[0].reason == "Accepted" and responses[0].headers["content-type"] == "text/plain"
    assert responses[3].headers["location"] == "//m2:5050/api/v1/scheduler"


def test_split_at_every_byte() -> None:
    for cut in range(len(STREAM) + 1):
        assert summary(parse_all(STREAM, [cut])) == EXPECTED, cut


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_split_anywhere(cuts: list[int]) -> None:
    assert summary(parse_all(STREAM, cuts)) == EXPECTED


def test_one_byte_at_a_time() -> None:
    assert summary(parse_all(STREAM, list(range(len(STREAM))))) == EXPECTED


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 202 Accepted\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 202 Accepted\r\nContent-Length: 0\r\n\r\n", False),  # 1.0 closes unless asked
        (b"HTTP/1.0 202 Accepted\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
        # Both framings: chunks win, and the connection is not trusted afterwards.
        (b"HTTP/1.1 202 Accepted\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", False),
    ],
)
def test_keep_alive_follows_version_and_connection_header(head: bytes, keep_alive: bool) -> None:
    (response,) = ResponseParser().feed(head)
    assert response.keep_alive is keep_alive


def test_interim_answers_are_skipped_and_204_has_no_body() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n" + ACCEPTED
    assert summary(ResponseParser().feed(data)) == [(204, b"", True), (202, b"", True)]


def test_body_until_eof() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 500 Internal Server Error\r\n\r\nboom") == []
    assert parser.feed(b" and more") == []
    last = parser.feed_eof()
    assert last is not None and (last.status, last.body, last.keep_alive) == (500, b"boom and more", False)


def test_repeated_header_fields_are_joined_and_equal_lengths_accepted() -> None:
    (response,) = ResponseParser().feed(
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2, 2\r\n\r\nok"
    )
    assert response.headers["x-a"] == "1, 2" and response.body == b"ok"


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX",
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1),
    ],
)
def test_malformed_answers_raise(data: bytes) -> None:
    with pytest.raises(HTTPResponseError):
        ResponseParser().feed(data)


def test_oversized_head_raises_before_it_ends() -> None:
    parser = ResponseParser()
    with pytest.raises(HTTPResponseError, match="head longer"):
        parser.feed(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000)


@pytest.mark.parametrize(
    "partial",
    [b"HTTP/1.1 202 Acc", ACCEPTED[:-1], REJECTED[:-3], CHUNKED[:-2]],
)
def test_eof_inside_an_answer_raises(partial: bytes) -> None:
    parser = ResponseParser()
    parser.feed(partial)
    with pytest.raises(HTTPResponseError, match="inside a response"):
        parser.feed_eof()


def test_a_repeated_head_reuses_its_framing_and_a_changed_one_is_parsed_again() -> None:
    # Heads identical to the previous one skip parsing: the cache must never blur two different heads.
    closing = ACCEPTED.replace(b"Content-Length: 0\r\n", b"Content-Length: 0\r\nConnection: close\r\n")
    with_body = ACCEPTED.replace(b"Content-Length: 0", b"Content-Length: 2") + b"ok"
    parser = ResponseParser()
    responses = parser.feed(ACCEPTED * 3 + with_body + ACCEPTED + closing + closing)
    assert (
        summary(responses)
        == [(202, b"", True)] * 3 + [(202, b"ok", True), (202, b"", True)] + [(202, b"", False)] * 2
    )
    assert responses[3].headers["content-length"] == "2"


def test_a_repeated_body_less_answer_is_one_shared_response() -> None:
    # One Response per distinct head (they are immutable); an interim answer or a body between
    # repeats must neither be taken for the cached answer nor disturb it.
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    with_body = ACCEPTED.replace(b"Content-Length: 0", b"Content-Length: 2") + b"ok"
    parser = ResponseParser()
    responses = parser.feed(ACCEPTED + interim + ACCEPTED + ACCEPTED[:10])
    responses += parser.feed(ACCEPTED[10:] + with_body + ACCEPTED)
    assert summary(responses) == [(202, b"", True)] * 3 + [(202, b"ok", True), (202, b"", True)]
    assert responses[0] is responses[1] is responses[2]
    assert responses[4] == responses[0] and responses[4].headers["content-type"] == "text/plain"
