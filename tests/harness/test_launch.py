"""Checklist items 35-41: launch validation (TASK_ERROR from the master, no uuid)."""

from __future__ import annotations

from typing import Any

from harness import Harness
from tests.harness.client import Client, Stream, accept_body, launch, scalar, task


async def error_of(stream: Stream, task_id: str, reason: str = "REASON_TASK_INVALID") -> str:
    status = await stream.update(task_id, "TASK_ERROR")
    assert status["reason"] == reason
    assert status["source"] == "SOURCE_MASTER"
    assert "uuid" not in status
    message: str = status["message"]
    return message


def executor(eid: str = "exec", cpus: float = 0.1, mem: float = 32, **extra: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "executor_id": {"value": eid},
        "command": {"value": "./executor"},
        "resources": [scalar("cpus", cpus), scalar("mem", mem)],
    }
    info.update(extra)
    return info


def custom_task(task_id: str, offer: dict[str, Any], ex: dict[str, Any], **extra: Any) -> dict[str, Any]:
    info = task(task_id, offer, **extra)
    del info["command"]
    info["executor"] = ex
    return info


def group(ex: dict[str, Any], *tasks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "LAUNCH_GROUP", "launch_group": {"executor": ex, "task_group": {"tasks": list(tasks)}}}


def pod_executor(
    fid: str, eid: str = "pod", cpus: float = 0.1, mem: float = 32, disk: float | None = 10
) -> dict[str, Any]:
    resources = [scalar("cpus", cpus), scalar("mem", mem)]
    if disk is not None:
        resources.append(scalar("disk", disk))
    return {
        "type": "DEFAULT",
        "executor_id": {"value": eid},
        "framework_id": {"value": fid},
        "resources": resources,
    }


def group_task(task_id: str, offer: dict[str, Any]) -> dict[str, Any]:
    info = task(task_id, offer)
    del info["command"]
    info["command"] = {"value": "sleep 1000"}
    return info


async def test_item_35_duplicate_task_id(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offers = await stream.offers(2)
    first, second = offers
    await client.call(
        stream, "ACCEPT", accept=accept_body([first], launch(task("dup", first), task("dup", first)))
    )
    assert (await error_of(stream, "dup")) == "Task has duplicate ID: dup"
    assert (await stream.update("dup", "TASK_STARTING"))["source"] == "SOURCE_EXECUTOR"  # the first one runs
    await client.call(stream, "ACCEPT", accept=accept_body([second], launch(task("dup", second))))
    await stream.wait(lambda: len([s for s in stream.updates("dup") if s["state"] == "TASK_ERROR"]) == 2)


async def test_item_36_wrong_agent(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    first, second = await stream.offers(2)
    await client.call(stream, "ACCEPT", accept=accept_body([first], launch(task("t", second))))
    assert "Task uses invalid agent" in await error_of(stream, "t")


async def test_item_37_resources_consumed_in_order(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offer = (await stream.offers(1))[0]
    tasks = [
        task("a", offer, cpus=2),
        task("b", offer, cpus=1.5),
        task("c", offer, cpus=1),
        task("d", offer, cpus=0.5),
    ]
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(*tasks)))
    message = await error_of(stream, "c")
    assert "is more than available" in message
    for ok in ("a", "b", "d"):
        await stream.update(ok, "TASK_STARTING")


async def test_item_38_malformed_tasks(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offer = (await stream.offers(1))[0]
    no_resources = task("no-resources", offer)
    no_resources["resources"] = []
    neither = task("neither", offer)
    del neither["command"]
    both = custom_task("both", offer, executor())
    both["command"] = {"value": "true"}
    half_gpu = task("half-gpu", offer)
    half_gpu["resources"].append(scalar("gpus", 0.5))
    two_roles = task("two-roles", offer)
    two_roles["resources"][0]["allocation_info"] = {"role": "other"}
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "no-resources": (no_resources, "Task uses no resources"),
        "half-gpu": (half_gpu, "The 'gpus' resource must be an unsigned integer"),
        "two-roles": (two_roles, "Expecting resources to be allocated to a single role"),
        "neither": (neither, "at least one (but not both)"),
        "both": (both, "at least one (but not both)"),
        "a/b": (task("a/b", offer), "contains invalid characters"),
        "..": (task("..", offer), "'..' is disallowed"),
        "grace": (
            task("grace", offer, kill_policy={"grace_period": {"nanoseconds": -1}}),
            "grace_period' must be non-negative",
        ),
        "no-type": (
            task("no-type", offer, health_check={"tcp": {"port": 80}}),
            "HealthCheck must specify 'type'",
        ),
        "bad-path": (
            task("bad-path", offer, health_check={"type": "HTTP", "http": {"port": 80, "path": "health"}}),
            "must start with '/'",
        ),
    }
    # A malformed Resource fails its whole operation before any task is looked at.
    negative = launch(task("negative", offer, cpus=-1), task("innocent", offer))
    await client.call(
        stream, "ACCEPT", accept=accept_body([offer], launch(*(c[0] for c in cases.values())), negative)
    )
    for task_id, (_, expected) in cases.items():
        assert expected in await error_of(stream, task_id), task_id
    for task_id in ("negative", "innocent"):
        assert await error_of(stream, task_id) == "Invalid scalar resource: value <= 0"


async def test_item_39_executor_resources_once_and_identity(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offer = (await stream.offers(1))[0]
    ex = executor(cpus=1, mem=1024)
    tasks = [custom_task(f"t{i}", offer, ex, cpus=1) for i in range(3)]
    # 3 tasks x 1 cpu + the executor's 1 cpu once = 4 cpus: exactly the agent.
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(*tasks)))
    for i in range(3):
        await stream.update(f"t{i}", "TASK_STARTING")
    assert not any(s["state"] == "TASK_ERROR" for s in stream.updates())


async def test_item_39_different_executor_info_refused(
    make_harness: Any, session: Any, encoding: str
) -> None:
    async with make_harness(agents=1) as h:
        client = Client(session, h.url, encoding)
        stream = await client.subscribe()
        offer = (await stream.offers(1))[0]
        await client.call(
            stream,
            "ACCEPT",
            accept=accept_body([offer], launch(custom_task("t1", offer, executor())), refuse=0),
        )
        await stream.update("t1", "TASK_STARTING")
        again = await stream.wait(lambda: stream.offers_seen()[1:])
        changed = executor(cpus=0.2)
        await client.call(
            stream, "ACCEPT", accept=accept_body(again[:1], launch(custom_task("t2", again[0], changed)))
        )
        assert "not compatible with existing ExecutorInfo" in await error_of(stream, "t2")
        assert h.errors == [] and h.violations == []
        await client.close()


async def test_item_40_invalid_task_groups(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offer = (await stream.offers(1))[0]
    fid = stream.framework_id
    untyped = pod_executor(fid, "untyped")
    del untyped["type"]
    docker_task = group_task("docker-1", offer)
    docker_task["container"] = {"type": "DOCKER", "docker": {"image": "nginx"}}
    cases = {
        "untyped": (
            group(untyped, group_task("untyped-1", offer), group_task("untyped-2", offer)),
            "'ExecutorInfo.type' must be set",
        ),
        "docker": (
            group(pod_executor(fid, "docker"), docker_task, group_task("docker-2", offer)),
            "Docker ContainerInfo",
        ),
        "small": (
            group(pod_executor(fid, "small", cpus=0.001), group_task("small-1", offer)),
            "uses less CPUs",
        ),
        "nodisk": (
            group(pod_executor(fid, "nodisk", disk=None), group_task("nodisk-1", offer)),
            "uses no disk",
        ),
        "huge": (
            group(pod_executor(fid, "huge", mem=100000), group_task("huge-1", offer)),
            "are more than available",
        ),
    }
    await client.call(stream, "ACCEPT", accept=accept_body([offer], *(c[0] for c in cases.values())))
    for name, (op, expected) in cases.items():
        for t in op["launch_group"]["task_group"]["tasks"]:
            message = await error_of(stream, t["task_id"]["value"], "REASON_TASK_GROUP_INVALID")
            assert expected in message, name


async def test_item_41_operation_id_on_launch(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offer = (await stream.offers(1))[0]
    fid = stream.framework_id
    op = launch(task("with-id", offer))
    op["id"] = {"value": "op-1"}
    grouped = group(pod_executor(fid), group_task("g1", offer))
    grouped["id"] = {"value": "op-2"}
    await client.call(stream, "ACCEPT", accept=accept_body([offer], op, grouped))
    assert "cannot be set on LAUNCH operations" in await error_of(stream, "with-id")
    assert "cannot be set on LAUNCH_GROUP" in await error_of(stream, "g1", "REASON_TASK_GROUP_INVALID")
