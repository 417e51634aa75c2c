"""codec.decode_labels reads the common Labels layout itself and leaves the rest to protobuf; either
way a task's labels read the same as protobuf's parse of their bytes (later labels winning), for
labels drawn by Hypothesis (unset values, duplicate keys, lengths past one byte, any text) and for
arbitrary bytes protobuf accepts as Labels.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import codec
from proto.mesos.v1 import mesos_pb2

TEXT = st.one_of(st.sampled_from(["gantry.slot", "12", ""]), st.text(max_size=150))


def _by_protobuf(raw: bytes) -> dict[str, str]:
    return {label.key: label.value for label in mesos_pb2.Labels.FromString(raw).labels}


@settings(max_examples=300, deadline=None)
@given(labels=st.lists(st.tuples(TEXT, st.none() | TEXT), max_size=6))
def test_labels_read_as_protobuf_reads_them(labels: list[tuple[str, str | None]]) -> None:
    message = mesos_pb2.Labels()
    for key, value in labels:
        label = message.labels.add(key=key)
        if value is not None:
            label.value = value
    raw = message.SerializeToString()
    expected = _by_protobuf(raw)
    assert codec.decode_labels(raw) == expected
    if all(len(label.SerializeToString()) < 128 for label in message.labels):
        assert codec._read_labels(raw) == expected  # the layout read without protobuf
    packed = codec.PackedLabels(raw)
    assert codec.labels_dict(packed) == dict(codec.PackedLabels(raw)) == expected
    assert codec.labels_dict({"k": "v"}) == {"k": "v"}


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=40))
def test_bytes_the_fast_reader_accepts_read_as_protobuf_reads_them(raw: bytes) -> None:
    try:
        expected = _by_protobuf(raw)
    except (DecodeError, UnicodeDecodeError):
        assert codec._read_labels(raw) is None
        return
    assert codec._read_labels(raw) in (None, expected)
