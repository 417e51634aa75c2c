"""Checklist items 28-34: offers, filters, suppress/revive, rescind, invalid ACCEPTs."""

from __future__ import annotations

from typing import Any

from harness import Harness
from harness.allocator import Allocator
from harness.clock import ManualClock
from harness.resources import Resources
from tests.harness.client import Client, accept_body, framework_info, launch, scalar, task

MULTI = {"capabilities": [{"type": "MULTI_ROLE"}], "roles": ["web", "batch"]}


def agent_ids(offers: list[dict[str, Any]]) -> list[str]:
    return [o["agent_id"]["value"] for o in offers]


async def test_item_28_offer_shape_one_agent_one_role(make_harness: Any, session: Any, encoding: str) -> None:
    async with make_harness(agents=3, agent_attributes="rack:r{i%2};level:{i}") as h:
        client = Client(session, h.url, encoding)
        stream = await client.subscribe(framework_info(**MULTI))
        offers = await stream.offers(3)
        for offer in offers:
            assert {
                "id",
                "framework_id",
                "agent_id",
                "hostname",
                "resources",
                "allocation_info",
                "attributes",
            } <= set(offer)
            role = offer["allocation_info"]["role"]
            assert role in ("web", "batch")
            assert all(r["allocation_info"]["role"] == role for r in offer["resources"])
            assert all(r["role"] == "*" for r in offer["resources"])  # pre-refinement format
            names = {r["name"] for r in offer["resources"]}
            assert names == {"cpus", "mem", "disk", "ports"}
            assert {a["name"] for a in offer["attributes"]} == {"rack", "level"}
        assert len(set(agent_ids(offers))) == 3  # one offer per agent
        # executor_ids lists this framework's executors on the agent.
        first = offers[0]
        executor = {
            "executor_id": {"value": "exec-1"},
            "command": {"value": "./executor"},
            "resources": [scalar("cpus", 0.1), scalar("mem", 32)],
        }
        custom = task("t1", first, executor=executor)
        del custom["command"]
        assert await client.call(stream, "ACCEPT", accept=accept_body([first], launch(custom), refuse=0)) == (
            202,
            "",
        )
        again = await stream.wait(
            lambda: [
                o
                for o in (o for e in stream.of_type("OFFERS") for o in e["offers"]["offers"])
                if o.get("executor_ids")
            ]
        )
        assert again[0]["executor_ids"] == [{"value": "exec-1"}]
        assert h.violations == [] and h.errors == []
        await client.close()


async def test_item_29_suppress_and_revive(h: Harness, client: Client) -> None:
    stream = await client.subscribe(framework_info(role="web"), suppressed_roles=["web"])
    await stream.next("SUBSCRIBED")
    fid = stream.framework_id
    assert h.master.allocator.suppressed(fid) == {"web"}
    count = len(stream.of_type("HEARTBEAT"))
    await stream.wait(lambda: len(stream.of_type("HEARTBEAT")) >= count + 2)  # several allocation cycles
    assert stream.of_type("OFFERS") == []
    assert await client.call(stream, "REVIVE") == (202, "")
    offers = await stream.offers(2)
    # Decline with a long filter, suppress, revive: offers come back at once (filters cleared).
    assert await client.call(
        stream,
        "DECLINE",
        decline={"offer_ids": [o["id"] for o in offers], "filters": {"refuse_seconds": 3600}},
    ) == (202, "")
    assert all(h.master.allocator.filtered(fid, "web", a) for a in agent_ids(offers))
    assert await client.call(stream, "SUPPRESS", suppress={"roles": ["web"]}) == (202, "")
    assert await client.call(stream, "REVIVE", revive={"roles": ["web"]}) == (202, "")
    assert len(await stream.offers(4)) == 4
    # An invalid role drops the whole call.
    assert await client.call(stream, "SUPPRESS", suppress={"roles": ["web", "nope"]}) == (202, "")
    assert h.master.allocator.suppressed(fid) == set()


async def test_item_30_decline_filters(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offers = await stream.offers(2)
    fid = stream.framework_id
    long, short = offers[0], offers[1]
    await client.call(
        stream, "DECLINE", decline={"offer_ids": [long["id"]], "filters": {"refuse_seconds": 3600}}
    )
    await client.call(
        stream, "DECLINE", decline={"offer_ids": [short["id"]], "filters": {"refuse_seconds": 0}}
    )
    assert h.master.allocator.filtered(fid, "*", long["agent_id"]["value"])
    # refuse_seconds 0: no filter, the agent comes straight back.
    await stream.wait(lambda: agent_ids(stream.offers_seen())[2:].count(short["agent_id"]["value"]) >= 1)
    # More resources freeing up on a filtered agent lifts the filter: launch part of the agent
    # on a fresh offer (after REVIVE) and kill it while the rest stays refused.
    await client.call(stream, "REVIVE")
    fresh = await stream.wait(
        lambda: [o for o in stream.offers_seen()[3:] if o["agent_id"] == long["agent_id"]]
    )
    await client.call(
        stream, "ACCEPT", accept=accept_body(fresh[:1], launch(task("t1", fresh[0], cpus=1)), refuse=3600)
    )
    running = await stream.update("t1", "TASK_STARTING")
    await client.ack(stream, running)
    assert h.master.allocator.filtered(fid, "*", long["agent_id"]["value"])
    seen = len(stream.offers_seen())
    await client.call(stream, "KILL", kill={"task_id": {"value": "t1"}})
    await stream.wait(lambda: long["agent_id"]["value"] in agent_ids(stream.offers_seen()[seen:]))


def test_item_30_filter_durations_on_virtual_time() -> None:
    clock = ManualClock()
    allocator = Allocator(clock, allocation_interval=1.0)
    free = Resources.of({"cpus": 4, "mem": 1024})
    cases = [(None, 5.0), (-3.0, 5.0), (2.0, 2.0), (0.2, 1.0), (1e12, 365 * 86400.0)]
    for refuse, lasts in cases:
        allocator.add_agent("a", free)
        allocator.add_framework("f", ["*"], [], active=True)
        [offer] = allocator.allocate()
        allocator.recover("f", "*", "a", offer.resources, refuse, install_filter=True)
        clock.advance(lasts - 0.01)
        assert allocator.allocate() == [], refuse
        clock.advance(0.02)
        assert len(allocator.allocate()) == 1, refuse
        allocator.remove_framework("f")
        allocator.remove_agent("a")
    allocator.add_agent("a", free)
    allocator.add_framework("f", ["*"], [], active=True)
    [offer] = allocator.allocate()
    allocator.recover("f", "*", "a", offer.resources, 0.0, install_filter=True)
    assert len(allocator.allocate()) == 1  # 0 installs no filter


async def test_item_31_accept_leftovers_are_filtered(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offers = await stream.offers(2)
    fid = stream.framework_id
    first, second = offers
    await client.call(stream, "ACCEPT", accept=accept_body([first], launch(task("t1", first))))
    await client.call(stream, "ACCEPT", accept=accept_body([second], launch(task("t2", second)), refuse=0))
    assert h.master.allocator.filtered(fid, "*", first["agent_id"]["value"])  # default 5 s
    back = await stream.wait(
        lambda: [o for o in stream.offers_seen()[2:] if o["agent_id"] == second["agent_id"]]
    )
    cpus = next(r for r in back[0]["resources"] if r["name"] == "cpus")
    assert cpus["scalar"]["value"] == 3.9  # what t2 left, in fixed-point thousandths


async def test_item_32_rescind(make_harness: Any, session: Any, encoding: str) -> None:
    async with make_harness(offer_timeout=0.3) as h:
        client = Client(session, h.url, encoding)
        stream = await client.subscribe()
        offers = await stream.offers(2)
        assert h.rescind(offers[0]["id"]["value"])
        rescind = await stream.next("RESCIND")
        assert rescind["rescind"]["offer_id"] == offers[0]["id"]
        await client.call(stream, "ACCEPT", accept=accept_body(offers[:1], launch(task("t1", offers[0]))))
        lost = await stream.update("t1", "TASK_LOST")
        assert (lost["reason"], lost["source"]) == ("REASON_INVALID_OFFERS", "SOURCE_MASTER")
        assert "uuid" not in lost
        # --offer_timeout: the other offer expires by itself.
        expired = await stream.next("RESCIND")
        assert expired["rescind"]["offer_id"] == offers[1]["id"]
        assert h.violations == [] and h.errors == []
        await client.close()


async def test_item_33_invalid_offer_combinations(make_harness: Any, session: Any, encoding: str) -> None:
    async with make_harness(agents=4) as h:
        client = Client(session, h.url, encoding)
        stream = await client.subscribe(
            framework_info(capabilities=[{"type": "MULTI_ROLE"}], roles=["a", "b"])
        )
        a, b, c, d = await stream.offers(4)
        # Hand the fourth agent to another framework.
        await client.call(
            stream, "DECLINE", decline={"offer_ids": [d["id"]], "filters": {"refuse_seconds": 3600}}
        )
        other = await client.subscribe()
        theirs = (await other.offers(1))[0]
        bad_accepts = {
            "two-agents": [a, b],
            "duplicate": [c, c],
            "unknown": [{"id": {"value": "no-such-offer"}}],
            "foreign": [theirs],
            "none": [],
        }
        for name, used in bad_accepts.items():
            body = accept_body(used, launch(task(f"t-{name}", a)))
            assert await client.call(stream, "ACCEPT", accept=body) == (202, "")
            lost = await stream.update(f"t-{name}", "TASK_LOST")
            assert lost["reason"] == "REASON_INVALID_OFFERS" and "uuid" not in lost, name
            assert lost["message"].startswith("Task launched with invalid offers"), name
        # Every listed offer that still existed was consumed (even the other framework's).
        assert h.offers == [] or all(
            o.offer_id not in {x["id"]["value"] for x in (a, b, c, theirs)} for o in h.offers
        )
        assert h.errors == []
        h.violations.clear()  # c was answered twice (on purpose)
        await client.close()


async def test_item_33_offers_of_two_roles(make_harness: Any, session: Any, encoding: str) -> None:
    async with make_harness(agents=1) as h:
        client = Client(session, h.url, encoding)
        stream = await client.subscribe(
            framework_info(capabilities=[{"type": "MULTI_ROLE"}], roles=["a", "b"])
        )
        # Launch on the agent's offer and leave the rest unfiltered: DRF hands the leftover to the
        # other role, and the task's resources, once it is killed, back to the first one. The
        # agent then has one outstanding offer per role.
        x = (await stream.offers(1))[0]
        await client.call(stream, "ACCEPT", accept=accept_body([x], launch(task("seed", x)), refuse=0))
        await stream.update("seed", "TASK_STARTING")
        await client.call(stream, "KILL", kill={"task_id": {"value": "seed"}})

        def outstanding_pair() -> list[dict[str, Any]] | None:
            live = {o.offer_id for o in h.offers}
            return _two_roles_one_agent([o for o in stream.offers_seen() if o["id"]["value"] in live])

        pair = await stream.wait(outstanding_pair)
        await client.call(stream, "ACCEPT", accept=accept_body(pair, launch(task("t-roles", pair[0]))))
        lost = await stream.update("t-roles", "TASK_LOST")
        assert lost["reason"] == "REASON_INVALID_OFFERS" and "same role" in lost["message"]
        assert h.errors == [] and h.violations == []
        await client.close()


def _two_roles_one_agent(offers: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    by_agent: dict[str, dict[str, dict[str, Any]]] = {}
    for offer in offers:
        by_agent.setdefault(offer["agent_id"]["value"], {})[offer["allocation_info"]["role"]] = offer
    for roles in by_agent.values():
        if len(roles) == 2:
            return list(roles.values())
    return None


async def test_item_34_accept_without_launches_is_a_decline(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offers = await stream.offers(2)
    fid = stream.framework_id
    first, second = offers
    await client.call(stream, "ACCEPT", accept=accept_body([first], refuse=3600))
    await client.call(stream, "ACCEPT", accept=accept_body([second], launch(), refuse=3600))
    for offer in offers:
        assert h.master.allocator.filtered(fid, "*", offer["agent_id"]["value"])
    assert h.offers == []
