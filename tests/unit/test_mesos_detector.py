"""Master detection without a network: parsing --master values, picking the leader, reading MasterInfo."""

from __future__ import annotations

import asyncio

import pytest

from framework.mesos.detector import (
    DetectorError,
    StaticDetector,
    ZooKeeperAddress,
    ZooKeeperDetector,
    detector_for,
    leader_child,
    master_url,
    parse_zk_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("zk://h1:2181/mesos", ZooKeeperAddress("h1:2181", "/mesos", None)),
        ("zk://h1:2181,h2:2181,h3/mesos/", ZooKeeperAddress("h1:2181,h2:2181,h3", "/mesos", None)),
        ("zk://u:p@h1:2181,h2:2181/a/b", ZooKeeperAddress("h1:2181,h2:2181", "/a/b", "u:p")),
    ],
)
def test_parse_zk_url(url: str, expected: ZooKeeperAddress) -> None:
    assert parse_zk_url(url) == expected


@pytest.mark.parametrize(
    "url", ["zk://h1:2181", "zk://h1:2181/", "zk:///mesos", "zk://h1,,h2/mesos", "http://x/m"]
)
def test_parse_zk_url_rejects(url: str) -> None:
    with pytest.raises(DetectorError):
        parse_zk_url(url)


@pytest.mark.parametrize(
    ("children", "leader"),
    [
        (["json.info_0000000003", "json.info_0000000001", "json.info_0000000002"], "json.info_0000000001"),
        # legacy binary contenders sort first and the replicated log has its own child: both ignored
        (["info_0000000000", "log_replicas", "json.info_0000000007"], "json.info_0000000007"),
        # sequence numbers compare as numbers, not as strings
        (["json.info_10", "json.info_9"], "json.info_9"),
        (["log_replicas", "info_0000000001"], None),
        ([], None),
    ],
)
def test_leader_child(children: list[str], leader: str | None) -> None:
    assert leader_child(children) == leader


def test_master_url_prefers_address() -> None:
    info = b'{"pid":"master@10.0.0.1:5050","address":{"ip":"10.0.0.2","port":5051,"hostname":"m"}}'
    assert master_url(info) == "http://10.0.0.2:5051"
    assert master_url(info, "https") == "https://10.0.0.2:5051"


def test_master_url_falls_back_to_pid_and_brackets_ipv6() -> None:
    assert master_url(b'{"pid":"master@10.0.0.1:5050"}') == "http://10.0.0.1:5050"
    assert master_url(b'{"address":{"ip":"::1","port":5050}}') == "http://[::1]:5050"


@pytest.mark.parametrize("info", [b"\x08\x01", b"[]", b'{"id":"x"}', b'{"pid":"nonsense"}'])
def test_master_url_rejects(info: bytes) -> None:
    with pytest.raises(DetectorError):
        master_url(info)


async def test_static_detector_normalises_and_never_changes() -> None:
    detector = detector_for("http://m1:5050/some/path")
    assert isinstance(detector, StaticDetector)
    await detector.start()
    assert await detector.leader() == "http://m1:5050"
    assert await detector.changed(None) == "http://m1:5050"
    waiting = asyncio.ensure_future(detector.changed("http://m1:5050"))
    await asyncio.sleep(0)
    assert not waiting.done()
    await detector.close()
    assert await waiting == "http://m1:5050"


def test_detector_for_picks_kind_and_rejects_garbage() -> None:
    assert isinstance(detector_for("zk://h:2181/mesos"), ZooKeeperDetector)
    with pytest.raises(DetectorError):
        detector_for("m1:5050")
