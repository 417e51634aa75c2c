"""harness/eventbytes.py: the OFFERS writer's per-agent cache and its one-pass event framing write
the same bytes as the field-by-field writer framed field by field, and those bytes parse as the
event the protobuf builder makes, for offers drawn by Hypothesis (ids past one-byte lengths,
non-ASCII hostnames, attributes of every type, agents offered to several frameworks and roles).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness import codec, eventbytes
from harness.model import Attribute
from harness.resources import parse_resources
from proto.mesos.v1.scheduler import scheduler_pb2

IDS = st.one_of(st.sampled_from(["f", "fw-0001", "a1"]), st.text(min_size=1, max_size=140))
ATTRIBUTES = st.lists(
    st.sampled_from(
        [
            Attribute("rack", "r1"),
            Attribute("level", 3.0),
            Attribute("ids", ((1, 5),)),
            Attribute("tags", frozenset({"x", "y"})),
        ]
    ),
    max_size=4,
    unique=True,
).map(tuple)
RESOURCES = st.sampled_from(
    [
        parse_resources("cpus:1.5;mem:100;ports:[1-2,5-9];disks:{a,b};gpus:1"),
        parse_resources("cpus:4;mem:8192;disk:20000;ports:[31000-32000]"),
        parse_resources("mem:64"),
    ]
)


@st.composite
def offer_views(draw: st.DrawFn) -> list[codec.OfferView]:
    # A few agents, each offered several times: cache hits and misses for the same agent.
    agents = draw(st.lists(st.tuples(IDS, IDS, st.integers(1, 65535), ATTRIBUTES), min_size=1, max_size=3))
    views = []
    for n in range(draw(st.integers(1, 8))):
        agent_id, hostname, port, attributes = draw(st.sampled_from(agents))
        views.append(
            codec.OfferView(
                f"o{n}-{draw(IDS)}",
                draw(IDS),
                agent_id,
                hostname,
                port,
                draw(st.sampled_from(["*", "web", "a-role-name-" * 12])),
                draw(RESOURCES),
                attributes,
                draw(st.lists(IDS, max_size=2)),
            )
        )
    return views


def _framed_field_by_field(views: list[codec.OfferView], refinement: bool) -> bytes:
    inner = b"".join(eventbytes._field(1, eventbytes.offer_bytes_listed(v, refinement)) for v in views)
    return eventbytes._OFFERS_TYPE + eventbytes._field(3, inner)


@settings(max_examples=150, deadline=None)
@given(views=offer_views(), refinement=st.booleans())
def test_offers_event_bytes_equal_the_field_by_field_writer_and_parse_as_the_built_event(
    views: list[codec.OfferView], refinement: bool
) -> None:
    for view in views:
        assert eventbytes.offer_bytes(view, refinement) == eventbytes.offer_bytes_listed(view, refinement)
    fast = eventbytes.offers_bytes(views, refinement)
    assert fast == _framed_field_by_field(views, refinement)
    assert fast == eventbytes.offers_bytes(views, refinement)  # again, every agent part cached
    assert scheduler_pb2.Event.FromString(fast) == codec.offers_event(views, refinement).proto()
