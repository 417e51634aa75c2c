"""framework.metrics: names, bounded labels, snapshot semantics, and the real `promtool check metrics`.

promtool comes from Debian's `prometheus` package (`make system-deps` installs it); these tests run
the real binary on the real exposition text, so a lint problem fails CI.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from framework.core.effects import Accept, Decline, Suppress, TaskLaunch, TaskRecord
from framework.core.events import TaskState
from framework.core.model import Constraint, ConstraintOperator
from framework.core.placement import ConstraintUnmet, NoFit, UnplacedReport
from framework.core.resources import Resources
from framework.core.views import BackoffStatus, QueueEntry, queue_reasons
from framework.metrics import (
    OFFER_ANSWER_DEADLINE,
    BoundedLabel,
    Metrics,
    build_metrics,
    status_class,
    task_state_counts,
    unplaced_by_reason,
)


def promtool_check(text: bytes) -> subprocess.CompletedProcess[bytes]:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool missing: run `make system-deps` (Debian package prometheus)"
    return subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)


def populate(metrics: Metrics) -> None:
    """Give every metric at least one sample with every label it has."""
    metrics.offers_received.inc(10)
    metrics.offers_declined.inc(6)
    metrics.offers_accepted.inc(4)
    metrics.tasks_launched.inc(12)
    metrics.set_tasks_by_state({"TASK_RUNNING": 10, "TASK_STAGING": 2})
    metrics.placement_latency.observe(0.0031)
    metrics.set_allocation({"cpus": 0.75, "mem": 0.5, "disk": 0.1, "ports": 0.01})
    metrics.agents_used.set(3)
    metrics.set_unplaced({"insufficient_mem": 2, "constraint": 1})
    metrics.set_subscribed(True)
    metrics.reconnects.inc()
    metrics.reconciliation_duration.observe(1.7)
    metrics.observe_offer_answer(0.12)
    metrics.observe_offer_answer(1.4)
    metrics.observe_http("POST", "/v1/apps", 201, 0.004)
    metrics.observe_http("GET", "/v1/apps/{id}", 404, 0.001)


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_promtool_accepts_every_metric_populated() -> None:
    metrics = build_metrics("0.1.0")
    populate(metrics)
    result = promtool_check(metrics.render())
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout == b""


def test_promtool_accepts_a_fresh_registry() -> None:
    result = promtool_check(build_metrics("0.1.0").render())
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_promtool_really_lints() -> None:
    # Guards the two tests above: a counter without _total must be rejected, so rc 0 means something.
    bad = b"# HELP jobs Jobs.\n# TYPE jobs counter\njobs 1\n"
    result = promtool_check(bad)
    assert result.returncode != 0
    assert b"_total" in result.stdout + result.stderr


def test_every_metric_is_prefixed_and_counters_end_in_total() -> None:
    metrics = build_metrics("0.1.0")
    populate(metrics)
    families = list(text_string_to_metric_families(metrics.render().decode()))
    names = {family.name for family in families}
    assert names >= {
        "gantry_offers_received", "gantry_offers_declined", "gantry_offers_accepted",
        "gantry_tasks_launched", "gantry_tasks", "gantry_placement_latency_seconds",
        "gantry_agent_allocation_ratio", "gantry_agents_used", "gantry_unplaced_instances",
        "gantry_subscribed", "gantry_reconnects", "gantry_reconciliation_duration_seconds",
        "gantry_http_requests", "gantry_http_request_duration_seconds", "gantry_build_info",
    }
    for family in families:
        assert family.name.startswith("gantry_")
        if family.type == "counter":
            assert any(s.name == family.name + "_total" for s in family.samples)


def test_instances_have_separate_registries_and_leave_the_global_one_alone() -> None:
    before = {name for name in REGISTRY._names_to_collectors if name.startswith("gantry_")}
    first, second = build_metrics("1"), build_metrics("2")
    first.offers_received.inc(5)
    assert samples(first)[("gantry_offers_received_total", ())] == 5
    assert samples(second)[("gantry_offers_received_total", ())] == 0
    assert before == {name for name in REGISTRY._names_to_collectors if name.startswith("gantry_")} == set()


def test_task_state_snapshot_zeroes_states_that_disappeared() -> None:
    metrics = build_metrics("0.1.0")
    metrics.set_tasks_by_state({"TASK_STAGING": 3})
    metrics.set_tasks_by_state({"TASK_RUNNING": 3})
    got = samples(metrics)
    assert got[("gantry_tasks", (("state", "TASK_STAGING"),))] == 0
    assert got[("gantry_tasks", (("state", "TASK_RUNNING"),))] == 3


def test_unplaced_and_allocation_snapshots() -> None:
    metrics = build_metrics("0.1.0")
    metrics.set_unplaced({"insufficient_cpus": 4})
    metrics.set_unplaced({})
    metrics.set_allocation({"cpus": 0.25})
    got = samples(metrics)
    assert got[("gantry_unplaced_instances", (("reason", "insufficient_cpus"),))] == 0
    assert got[("gantry_agent_allocation_ratio", (("resource", "cpus"),))] == 0.25


def test_bounded_label_folds_new_values_past_the_limit_into_other() -> None:
    bound = BoundedLabel(2)
    assert [bound(v) for v in ("a", "b", "c", "a", "d")] == ["a", "b", "other", "a", "other"]


def test_overflowing_values_add_up_under_other() -> None:
    metrics = build_metrics("0.1.0")
    metrics.set_tasks_by_state({f"state-{i}": 1 for i in range(40)})  # 32 admitted, 8 folded
    got = samples(metrics)
    assert got[("gantry_tasks", (("state", "other"),))] == 8
    assert sum(v for (name, _), v in got.items() if name == "gantry_tasks") == 40


def test_http_labels_are_bounded() -> None:
    metrics = build_metrics("0.1.0")
    metrics.observe_http("BREW", "unmatched", 418, 0.001)
    metrics.observe_http("GET", "/healthz", 200, 0.001)
    got = samples(metrics)
    name = "gantry_http_requests_total"
    assert got[(name, (("method", "other"), ("route", "unmatched"), ("status", "4xx")))] == 1
    assert got[(name, (("method", "GET"), ("route", "/healthz"), ("status", "2xx")))] == 1


@pytest.mark.parametrize(
    ("status", "label"),
    [(200, "2xx"), (201, "2xx"), (304, "3xx"), (422, "4xx"), (503, "5xx"), (99, "other"), (600, "other")],
)
def test_status_class(status: int, label: str) -> None:
    assert status_class(status) == label


def test_build_info_carries_the_version() -> None:
    assert samples(build_metrics("9.9.9"))[("gantry_build_info", (("version", "9.9.9"),))] == 1


# --- helpers the driver uses to feed the metrics from core values -------------------------------


def launch(task_id: str) -> TaskLaunch:
    return TaskLaunch(
        task_id=task_id, name=task_id, app_id="/shop/web", version="abc.2", slot=0, agent_id="a1",
        hostname="h1", role="*", resources=Resources.of(cpus=0.1, mem=64), ports=(), port_names=(),
        cmd="true", env=(), labels=(), container=None, health_checks=(), readiness_checks=(),
        kill_grace_seconds=3.0,
    )


def test_count_effects_counts_offers_and_launches() -> None:
    metrics = build_metrics("0.1.0")
    metrics.count_effects([
        Accept("a1", ("o1", "o2"), (launch("t1"), launch("t2"), launch("t3")), refuse_seconds=5),
        Decline(("o3", "o4", "o5"), refuse_seconds=600),
        Suppress(),
    ])
    got = samples(metrics)
    assert got[("gantry_offers_accepted_total", ())] == 2
    assert got[("gantry_tasks_launched_total", ())] == 3
    assert got[("gantry_offers_declined_total", ())] == 3


def test_offer_answers_fill_the_histogram_and_late_ones_are_counted() -> None:
    metrics = build_metrics("0.1.0")
    for seconds in (0.004, 0.3, 0.3, OFFER_ANSWER_DEADLINE, 1.2, 7.0, -0.5):
        metrics.observe_offer_answer(seconds)
    got = samples(metrics)
    assert got[("gantry_offer_answer_seconds_count", ())] == 7
    assert got[("gantry_offer_answer_seconds_sum", ())] == pytest.approx(0.004 + 0.6 + 1.0 + 1.2 + 7.0)
    # A clock stepping back counts as an instant answer, not a negative one.
    assert got[("gantry_offer_answer_seconds_bucket", (("le", "0.001"),))] == 1
    assert got[("gantry_offer_answer_seconds_bucket", (("le", "0.5"),))] == 4
    assert got[("gantry_offer_answer_seconds_bucket", (("le", "1.0"),))] == 5
    assert got[("gantry_offer_answer_seconds_bucket", (("le", "5.0"),))] == 6
    # Exactly on the deadline is still in time.
    assert got[("gantry_offers_answered_late_total", ())] == 2


def test_task_state_counts() -> None:
    records = [
        TaskRecord(f"t{i}", "/shop/web", "abc.2", i, state, updated_at=0.0)
        for i, state in enumerate([TaskState.RUNNING, TaskState.RUNNING, TaskState.STAGING])
    ]
    assert task_state_counts(records) == {"TASK_RUNNING": 2, "TASK_STAGING": 1}


def test_unplaced_by_reason_takes_each_apps_main_reason() -> None:
    report = UnplacedReport(
        app_id="/shop/web", version="abc.2", placed=0, unplaced=3,
        reasons=(NoFit(resource="mem", requested=512, best_available=256, agents=4),
                 ConstraintUnmet(Constraint("hostname", ConstraintOperator.UNIQUE), agents=6)),
    )
    queue = [
        QueueEntry("/shop/web", "abc.2", waiting=3, since=0.0, offer_rounds=1,
                   last_round=queue_reasons(report), refused=(), backoff=None),
        QueueEntry("/batch", "def.1", waiting=2, since=0.0, offer_rounds=0, last_round=(), refused=(),
                   backoff=BackoffStatus(4.0, 10.0, 4.0, 3, "task /batch.3 TASK_FAILED")),
        QueueEntry("/new", "fed.1", waiting=1, since=0.0, offer_rounds=0, last_round=(), refused=(),
                   backoff=None),
    ]
    assert unplaced_by_reason(queue) == {"constraint_unmet": 3, "backing_off": 2, "not_offered_yet": 1}
