"""Frozen value types shared by the scheduler core, the placement engine and the Mesos codec.

Role: the vocabulary of placement. `Offer` is what Mesos offers (one agent, one role; the codec
converts protobuf offers into it, the only place the two meet); `Demand` is what the scheduler wants
placed (`count` identical instances of one app version); `Constraint` is a Marathon-style placement
constraint; `RunningTask` says where an app already runs, so constraints count those tasks too.

Callers: `framework.core.placement.place`, `framework.core.scheduler`, `framework.mesos.codec`.

Must not: import anything outside the standard library and `framework.core`, do I/O, or hold mutable
state. Validation here raises `ValueError` with a message naming the field; the API layer validates
user input earlier and turns errors into 422s, so a ValueError from this module is a programming error.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from framework.core.resources import Resources

__all__ = [
    "HOSTNAME",
    "Constraint",
    "ConstraintOperator",
    "Demand",
    "DemandKey",
    "Offer",
    "Policy",
    "Resources",
    "RunningTask",
]

# The constraint field that means "the agent's hostname" rather than an agent attribute (Marathon's name).
HOSTNAME = "hostname"

# (app_id, version): identifies a Demand and the report about it.
DemandKey = tuple[str, str]

_EMPTY: Mapping[str, str] = MappingProxyType({})


def _no_attributes() -> Mapping[str, str]:
    return _EMPTY


class ConstraintOperator(enum.StrEnum):
    """Marathon's constraint operators; the semantics are documented in docs/placement.md."""

    UNIQUE = "UNIQUE"  # at most one task of the app per value of the field
    CLUSTER = "CLUSTER"  # every task on one value (the given one, or whichever the first task got)
    GROUP_BY = "GROUP_BY"  # spread evenly over the values (value: optional minimum number of groups)
    LIKE = "LIKE"  # the field's value fully matches the regex `value`
    UNLIKE = "UNLIKE"  # the field's value does not fully match `value` (agents without the field pass)
    MAX_PER = "MAX_PER"  # at most `value` tasks of the app per value of the field


class Policy(enum.StrEnum):
    """How one app's instances are laid out once feasibility is known."""

    PACK = "pack"  # fullest agent that fits first, so whole agents stay free (the default)
    SPREAD = "spread"  # fewest instances of this app per agent first, for availability


@dataclass(frozen=True, slots=True)
class Constraint:
    """`[field, operator, value]` as in a Marathon app definition; `field` is "hostname" or an attribute."""

    field: str
    operator: ConstraintOperator
    value: str | None = None

    def __post_init__(self) -> None:
        if not self.field:
            raise ValueError("constraint field must not be empty")
        operator = ConstraintOperator(self.operator)  # also accepts the plain string
        object.__setattr__(self, "operator", operator)
        match operator:
            case ConstraintOperator.LIKE | ConstraintOperator.UNLIKE:
                if self.value is None:
                    raise ValueError(f"constraint {self.field} {operator} needs a regex value")
                try:
                    re.compile(self.value)
                except re.error as exc:
                    raise ValueError(
                        f"constraint {self.field} {operator}: invalid regex {self.value!r}: {exc}"
                    ) from None
            case ConstraintOperator.MAX_PER:
                if _positive_int(self.value) is None:
                    raise ValueError(
                        f"constraint {self.field} MAX_PER needs a positive integer, got {self.value!r}"
                    )
            case ConstraintOperator.GROUP_BY:
                if self.value is not None and _positive_int(self.value) is None:
                    raise ValueError(f"constraint {self.field} GROUP_BY value must be a positive integer")
            case ConstraintOperator.UNIQUE | ConstraintOperator.CLUSTER:
                pass

    @property
    def limit(self) -> int:
        """MAX_PER's per-value limit, GROUP_BY's minimum number of groups (0 when absent), else 0."""
        return _positive_int(self.value) or 0

    def __str__(self) -> str:
        return f"{self.field}:{self.operator}" + (f":{self.value}" if self.value is not None else "")


def _positive_int(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    number = int(text)
    return number if number > 0 else None


@dataclass(frozen=True, slots=True)
class Offer:
    """One Mesos offer: one agent, one role. Attributes are rendered as text (scalars like "3" or "1.5")."""

    offer_id: str
    agent_id: str
    hostname: str
    role: str
    resources: Resources
    attributes: Mapping[str, str] = field(default_factory=_no_attributes)


@dataclass(frozen=True, slots=True)
class RunningTask:
    """Where one task of an app already runs (any version): constraints count these."""

    app_id: str
    agent_id: str
    hostname: str
    attributes: Mapping[str, str] = field(default_factory=_no_attributes)


@dataclass(frozen=True, slots=True)
class Demand:
    """`count` identical instances of one app version to place.

    `resources` is per instance and holds no ports: each name in `port_names` asks for one host port,
    which the engine picks from the offered ranges. Executor overhead, if any, is the caller's to add
    to `resources` (one executor per instance).
    """

    app_id: str
    version: str
    resources: Resources
    port_names: tuple[str, ...] = ()
    count: int = 1
    constraints: tuple[Constraint, ...] = ()
    policy: Policy = Policy.PACK

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"demand {self.app_id}: count must be >= 0, got {self.count}")
        if self.resources.ports:
            raise ValueError(f"demand {self.app_id}: resources must not hold ports; name them in port_names")
        object.__setattr__(self, "policy", Policy(self.policy))

    @property
    def key(self) -> DemandKey:
        return (self.app_id, self.version)

    @property
    def port_count(self) -> int:
        return len(self.port_names)
