"""`python -m harness`: run the fake Mesos master with simulated agents until interrupted.

    python -m harness --listen 127.0.0.1:5050 --agents 3 --agent-attributes "rack:r{i%3}"

Prints the master URL on stdout once it is serving (port 0 prints the port actually bound), so a
script can wait for that line. Bad options print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from harness.harness import DEFAULT_RESOURCES, Harness, tune_gc


class CliError(Exception):
    """An option value that argparse accepted but the harness cannot use."""


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    host = host.strip("[]")
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port {number} is out of range 0-65535")
    return host, number


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} must be a finite number > 0")
    return number


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be >= 0")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness", description="A fake Mesos master with simulated agents."
    )
    p.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 5050),
        metavar="HOST:PORT",
        help="address to serve on (port 0 picks a free port) [127.0.0.1:5050]",
    )
    p.add_argument("--agents", type=_count, default=3, help="number of simulated agents [3]")
    p.add_argument(
        "--agent-resources",
        default=DEFAULT_RESOURCES,
        metavar="SPEC",
        help=f"resources of each agent, Mesos --resources syntax [{DEFAULT_RESOURCES}]",
    )
    p.add_argument(
        "--agent-attributes",
        default="",
        metavar="TEMPLATE",
        help="attributes of each agent; {expr} over the agent index i, e.g. 'rack:r{i%%3}'",
    )
    p.add_argument(
        "--hostname-template",
        default="agent{i}.harness",
        metavar="TEMPLATE",
        help="hostname of each agent, e.g. 'node-{i}.example' [agent{i}.harness]",
    )
    p.add_argument("--master-hostname", default=None, help="hostname the master reports in MasterInfo")
    p.add_argument("--heartbeat-interval", type=_positive, default=15.0, metavar="SECONDS", help="[15]")
    p.add_argument("--allocation-interval", type=_positive, default=1.0, metavar="SECONDS", help="[1]")
    p.add_argument(
        "--failover-timeout-cap",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="cap on frameworks' failover_timeout (default: none)",
    )
    p.add_argument(
        "--offer-timeout",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="rescind offers older than this (Mesos --offer_timeout; default: never)",
    )
    p.add_argument(
        "--zk",
        default=None,
        metavar="URL",
        help="register in ZooKeeper like a Mesos master, e.g. zk://127.0.0.1:2181/mesos",
    )
    p.add_argument(
        "--status-update-retry",
        type=_positive,
        nargs=2,
        default=(10.0, 600.0),
        metavar=("MIN", "MAX"),
        help="agents' status update resend backoff [10 600]",
    )
    return p


async def serve(args: argparse.Namespace) -> None:
    host, port = args.listen
    h = Harness(
        agents=args.agents,
        agent_resources=args.agent_resources,
        agent_attributes=args.agent_attributes,
        hostname_template=args.hostname_template,
        heartbeat_interval=args.heartbeat_interval,
        allocation_interval=args.allocation_interval,
        failover_timeout_cap=args.failover_timeout_cap,
        offer_timeout=args.offer_timeout,
        status_update_retry=tuple(args.status_update_retry),
        host=host,
        port=port,
        master_hostname=args.master_hostname,
        record_calls=False,
        zookeeper=args.zk,
    )
    try:
        await h.start()
    except OSError as error:
        await h.stop()
        raise CliError(f"cannot start on {host}:{port}: {error.strerror or error}") from None
    except Exception as error:  # kazoo: ZooKeeper unreachable, session timeout
        await h.stop()
        raise CliError(f"cannot register in ZooKeeper: {error}") from None
    # This process is only the harness: move the long-lived cluster out of the collector's way and
    # collect rarely, so collections neither stall offer cycles at 10,000 agents nor eat a launch.
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(h.url, flush=True)
    try:
        await stop.wait()
    finally:
        await h.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        asyncio.run(serve(args))
    except (CliError, ValueError) as error:
        print(f"python -m harness: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
    return 0
