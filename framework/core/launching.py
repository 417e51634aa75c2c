"""Launch building: the `TaskLaunch` and the STAGING `TaskRecord` of every instance `place` placed.

Role: the scheduler core (`SchedulerState._launch_all`) keeps one `LaunchTemplate` per app and asks it,
per placed group, for the group's launches and records. A template holds everything of a launch that
does not vary per task for one (spec, version): the name, the task id prefix, the head of the env and
of the labels; and it remembers, per tuple of host ports, the task's resources and the port variables
of its env. Agents of one size get the same ports in the same order, so across a large launch these
tuples repeat and each task costs only its own id, slot and two tuples. What it builds equals
`TaskLaunch.of(...)` field for field (tests/unit/test_launching.py and a property test check it);
`TaskLaunch.of` and `spec.build_env` stay the reference definitions. `accept_leftover` and
`decline_unused` choose the refuse filters of a decision that left work waiting.

Must not: do I/O or import anything outside the standard library and `framework.core`; remember more
than `MEMO_LIMIT` port tuples per template; be used for a spec other than the one it was built for
(`template_for` rebuilds it when the app's spec or version changes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from framework.core.effects import (
    Accept,
    Decline,
    Effect,
    Revive,
    TaskLaunch,
    TaskRecord,
    new_task_launch,
    new_task_record,
)
from framework.core.events import TaskState
from framework.core.model import Offer
from framework.core.placement import PlacedGroup
from framework.core.resources import Resources, ports_to_ranges
from framework.core.spec import AppSpec, app_id_slug, port_env_name

__all__ = [
    "MEMO_LIMIT", "QUICK_DECLINES_PER_AGENT", "ROUND_SECONDS", "LaunchTemplate", "Scalars", "UnusedOffers",
    "accept_leftover", "decline_unused", "declines_first", "template_for",
]

# Port tuples remembered per template. An agent's tasks take the lowest free ports, so a launch onto
# many alike agents repeats a few hundred tuples at most; the limit only bounds the odd cluster whose
# agents all offer different ranges (the memo is then dropped and refilled).
MEMO_LIMIT = 4096

Scalars = tuple[int, ...]  # cpus, mem, disk, gpus in thousandths (Resources.scalars_milli)
_Pairs = tuple[tuple[str, str], ...]
_STAGING = TaskState.STAGING


class LaunchTemplate:
    """What the launches of one (spec, version) share; `build` makes the per-task rest."""

    __slots__ = ("_app_pairs", "_base", "_env_head", "_labels_head", "_memo", "_port_env_names", "name",
                 "slug", "spec", "version")

    def __init__(self, spec: AppSpec, version: str) -> None:
        self.spec = spec
        self.version = version
        self.name = spec.id.lstrip("/")
        self.slug = app_id_slug(spec.id)
        self._env_head = spec.env
        self._app_pairs: _Pairs = (("GANTRY_APP_ID", spec.id), ("GANTRY_APP_VERSION", version))
        # Validation reserves the "gantry." label prefix, so appending cannot repeat a key.
        self._labels_head: _Pairs = (*spec.labels, ("gantry.app_id", spec.id), ("gantry.version", version))
        self._port_env_names = tuple(port_env_name(name) for name in spec.ports)
        self._base: Resources | None = None  # the per-instance resources `_memo` was filled for
        self._memo: dict[tuple[int, ...], tuple[Resources, _Pairs]] = {}

    def build(self, group: PlacedGroup, slots: Sequence[int], first_seq: int, hostname: str, role: str,
              now: float) -> tuple[list[TaskLaunch], list[TaskRecord]]:
        """The launches and STAGING records of `group`'s instances: instance i fills `slots[i]` as task
        `<slug>.<first_seq + i>` with `group.host_ports[i]`."""
        spec, version, app_id, agent_id = self.spec, self.version, self.spec.id, group.agent_id
        name, cmd, port_names, container = self.name, spec.cmd, spec.ports, spec.container
        health, readiness, grace = spec.health_checks, spec.readiness_checks, spec.kill_grace_period_seconds
        env_head, app_pairs, labels_head = self._env_head, self._app_pairs, self._labels_head
        prefix = self.slug
        memo = self._memo_for(group.resources)
        host_ports = group.host_ports
        host_pair = ("HOST", hostname)
        launches: list[TaskLaunch] = []
        records: list[TaskRecord] = []
        for i, slot in enumerate(slots):
            task_id = f"{prefix}.{first_seq + i}"
            ports = host_ports[i] if host_ports else ()
            resources, port_env = memo.get(ports) or self._remember(ports)
            slot_text = str(slot)
            env = (*env_head, host_pair, *app_pairs, ("GANTRY_TASK_ID", task_id),
                   ("GANTRY_INSTANCE", slot_text), *port_env)
            labels = (*labels_head, ("gantry.slot", slot_text))
            launches.append(new_task_launch(task_id, name, app_id, version, slot, agent_id, hostname, role,
                                            resources, ports, port_names, cmd, env, labels, container, health,
                                            readiness, grace))
            records.append(new_task_record(task_id, app_id, version, slot, _STAGING, now, agent_id, hostname,
                                           ports, None, None, None, None, None))
        return launches, records

    def _memo_for(self, base: Resources) -> dict[tuple[int, ...], tuple[Resources, _Pairs]]:
        # Each offer round builds its demands afresh, so the same resources arrive as a new object.
        if base is not self._base:
            if base != self._base:
                self._memo.clear()
            self._base = base
        return self._memo

    def _remember(self, ports: tuple[int, ...]) -> tuple[Resources, _Pairs]:
        """The resources (the instance's scalars plus exactly `ports`) and the port variables of the env
        (spec.build_env's order: PORT, PORTS, PORT0.., PORT_<NAME>) of a task holding `ports`."""
        base = self._base
        assert base is not None  # set by _memo_for before any lookup
        if not ports:
            entry: tuple[Resources, _Pairs] = (base, ())
        else:
            texts = [str(p) for p in ports]
            port_env = [("PORT", texts[0]), ("PORTS", ",".join(texts))]
            port_env += [(f"PORT{i}", text) for i, text in enumerate(texts)]
            port_env += list(zip(self._port_env_names, texts, strict=True))
            resources = Resources(base.cpus_milli, base.mem_milli, base.disk_milli, base.gpus_milli,
                                  ports_to_ranges(ports))
            entry = (resources, tuple(port_env))
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        self._memo[ports] = entry
        return entry


def template_for(current: LaunchTemplate | None, spec: AppSpec, version: str) -> LaunchTemplate:
    """`current` if it was built for exactly this spec and version, else a new template for them."""
    if current is not None and current.spec is spec and current.version == version:
        return current
    return LaunchTemplate(spec, version)


# -- refuse filters of a capped decision ----------------------------------------------------------


def _could_host(free: Scalars, shapes: Sequence[Scalars]) -> bool:
    """Whether `free` holds one instance of any of `shapes` (scalars only: a coarse test that only
    chooses a refuse filter, never what is launched)."""
    return any(all(f >= need for f, need in zip(free, shape, strict=True)) for shape in shapes)


# Offers a capped decision declines with no filter, per agent it launched on (the rest come back
# paced: decline_unused). Measured on 100,000 launches onto 10,000 agents (docs/performance.md), before
# the pacing: 2 gave 5,800 tasks/s with a quarter of the offers late, 4 gave 7,700/s with 44% late,
# all of them 8,100/s with 60% late (every late offer is one the master could not give another
# framework meanwhile).
QUICK_DECLINES_PER_AGENT = 4

# Mesos' default --allocation_interval. A framework is not told its master's; only the pacing of
# decline_unused depends on it, and a different interval only makes the batches come back sooner or later.
ROUND_SECONDS = 1.0


def decline_unused(
    unused: Sequence[Offer], shapes: Sequence[Scalars], quick: int, refuse_busy: float,
    refuse_unhostable: float, *, per_round: int = 0, paced: int = 0,
) -> tuple[list[Decline], int, int]:
    """Decline offers a decision left unused: up to `quick` of those that could host a waiting
    instance (of `shapes`) with no filter, so the next round has agents to fill; the other hostable
    ones with `refuse_busy`; those too small for any waiting instance with `refuse_unhostable`.
    Returns the declines, how many of `quick` are left, and `paced` plus the offers paced here.

    Re-offering all of a large idle cluster every second costs the master and Gantry more than the
    launches (10,000 offers a round for 1,000 agents used). With `per_round`, the hostable offers
    after the quick ones come back in batches of that many, one allocation round apart (filters of
    1, 2, ... ROUND_SECONDS, up to `refuse_busy`; `paced` offers of the same decision, in earlier
    offer events, were paced before these): a capped launch then finds about as many agents
    in each of the next rounds as it filled in this one, instead of none once the unfiltered ones
    are used up (measured: 100,000 tasks on 10,000 agents stalled 3 s in a 9 s launch, until the
    busy filter of the rest ended).

    An offer too small for any instance is only noise: on a filling cluster, the memory and disk a
    full agent has left (Mesos offers an agent that has 32 MB free) were a quarter of all offers
    while the busy filter brought them back every few seconds. The long filter on them loses
    nothing: a filter only holds the resources refused, so an agent whose tasks end is offered
    again at once, and new work that might fit them (an app becoming launchable) REVIVEs."""
    hostable = [o.offer_id for o in unused if _could_host(o.resources.scalars_milli(), shapes)]
    chosen, later = hostable[:quick], hostable[quick:]
    declines = [Decline(tuple(chosen), 0.0)] if chosen else []
    done = paced
    while later:
        rounds = done // per_round + 1 if per_round > 0 else 0
        refuse = min(refuse_busy, rounds * ROUND_SECONDS) if rounds else refuse_busy
        # The rest of this round's batch, or everything once the busy filter caps the pacing.
        size = per_round - done % per_round if refuse < refuse_busy else len(later)
        declines.append(Decline(tuple(later[:size]), refuse))
        done += min(size, len(later))
        later = later[size:]
    hostable_ids = set(hostable)
    small = tuple(o.offer_id for o in unused if o.offer_id not in hostable_ids)
    if small:
        declines.append(Decline(small, refuse_unhostable))
    return declines, quick - len(chosen), done


def declines_first(effects: list[Effect]) -> list[Effect]:
    """The same effects with every DECLINE moved ahead of the records and calls before it, but not
    ahead of a REVIVE that preceded it (the REVIVE would clear the filter the DECLINE installs).

    A DECLINE waits for nothing, and the driver sends each call only after every record ahead of it
    in the list is stored: when one turn handles several offer events, the first of which launches,
    the later events' DECLINEs sat behind 10,000 records and waited for them (0.2 s), although
    `_on_offers` puts each event's own DECLINE first. Nothing else is reordered."""
    revive = max((i for i, e in enumerate(effects) if type(e) is Revive), default=-1)
    before, after = effects[: revive + 1], effects[revive + 1 :]
    return ([e for e in before if type(e) is Decline] + [e for e in before if type(e) is not Decline]
            + [e for e in after if type(e) is Decline] + [e for e in after if type(e) is not Decline])


class UnusedOffers:
    """Declines the offers one handle() call leaves unused (decline_unused), keeping across its offer
    events how many quick declines its capped decisions have left and how far the pacing got."""

    __slots__ = ("paced", "per_round", "quick")

    def __init__(self) -> None:
        self.quick = self.per_round = self.paced = 0

    def decline(self, unused: Sequence[Offer], shapes: Sequence[Scalars], capped_on: int | None,
                refuse_busy: float, refuse_unhostable: float) -> list[Decline]:
        """`capped_on`: how many agents a decision the cap cut short launched on (None: not capped)."""
        if capped_on is None:
            return decline_unused(unused, shapes, 0, refuse_busy, refuse_unhostable)[0]
        self.quick += QUICK_DECLINES_PER_AGENT * capped_on
        self.per_round += QUICK_DECLINES_PER_AGENT * capped_on
        declines, self.quick, self.paced = decline_unused(
            unused, shapes, self.quick, refuse_busy, refuse_unhostable, per_round=self.per_round,
            paced=self.paced,
        )
        return declines


def accept_leftover(accept: Accept, offers: Mapping[str, Offer], shapes: Sequence[Scalars],
                    refuse_unhostable: float) -> Accept:
    """An Accept keeps its own filter on what it leaves of the agent only if that could still host
    a waiting instance; a full agent's leftovers get `refuse_unhostable` (see decline_unused: an
    agent whose tasks end is offered again whatever the filter)."""
    free = [sum(col) for col in zip(*(offers[i].resources.scalars_milli() for i in accept.offer_ids),
                                    strict=True)]
    for launch in accept.launches:
        for k, used in enumerate(launch.resources.scalars_milli()):
            free[k] -= used
    if _could_host(tuple(free), shapes):
        return accept
    return replace(accept, refuse_seconds=refuse_unhostable)
