"""Launch backoff for crash-looping apps, with Marathon's semantics.

Role: pure arithmetic over `LaunchDelay` values, called by the scheduler core when a task of an app
ends in a way that counts as a crash, when it considers launching (is the app delayed?), and when it
renders app status and the queue.

Semantics (Marathon's `backoffSeconds`, `backoffFactor`, `maxLaunchDelaySeconds`):
- The first crash delays the app's next launch by `backoff_seconds`; every further crash multiplies
  the current delay by `backoff_factor`, capped at `max_launch_delay_seconds`. The delay counts from
  the crash, so a crash while already delayed pushes the deadline out.
- The delay is per app and resets (the app is no longer delayed, the next crash starts again at
  `backoff_seconds`) when the app's configuration changes (a new version, not a mere scale), or when
  a task of the current configuration has stayed RUNNING (and healthy, if the app has health checks)
  for `reset_after_seconds` (SchedulerConfig.backoff_reset_seconds).
- What counts as a crash (`counts_as_crash`): the task failed, errored, finished (a service is not
  meant to exit), or was killed without Gantry asking (e.g. by its health check). Losing the agent
  (LOST, GONE, UNREACHABLE ...) or a DROPPED launch is not the app's fault and does not back off.

Must not: read a clock; `now` is always passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from framework.core.events import TaskState

__all__ = ["LaunchDelay", "counts_as_crash", "next_delay"]

_CRASH_STATES = frozenset({TaskState.FAILED, TaskState.ERROR, TaskState.FINISHED})


@dataclass(frozen=True, slots=True)
class LaunchDelay:
    """The app may not launch before `until`. `delay_seconds` is the delay applied by the last crash."""

    delay_seconds: float
    until: float
    crashes: int
    last_crash: str = ""  # e.g. "task /shop/web.7 TASK_FAILED: exited with status 1", for status views

    def active(self, now: float) -> bool:
        return now < self.until

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)


def next_delay(
    current: LaunchDelay | None,
    *,
    backoff_seconds: float,
    backoff_factor: float,
    max_launch_delay_seconds: float,
    now: float,
    description: str = "",
) -> LaunchDelay:
    """The delay after one more crash at `now`."""
    if current is None:
        delay = backoff_seconds
        crashes = 1
    else:
        delay = current.delay_seconds * backoff_factor
        crashes = current.crashes + 1
    delay = min(delay, max_launch_delay_seconds)
    return LaunchDelay(delay_seconds=delay, until=now + delay, crashes=crashes, last_crash=description)


def counts_as_crash(state: TaskState, *, kill_requested: bool) -> bool:
    """True when a task ending in `state` should delay the app's next launch."""
    if state in _CRASH_STATES:
        return True
    return state is TaskState.KILLED and not kill_requested
