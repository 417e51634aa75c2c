"""`python -m harness`: prints its URL when ready, serves, stops on SIGTERM; bad options exit 2."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import aiohttp
import pytest

from tests.harness.client import JSON, Client

PYTHON = sys.executable


async def test_cli_serves_on_a_free_port_until_sigterm(session: aiohttp.ClientSession) -> None:
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "harness",
        "--listen",
        "127.0.0.1:0",
        "--agents",
        "2",
        "--agent-attributes",
        "rack:r{i%2}",
        "--heartbeat-interval",
        "0.2",
        "--allocation-interval",
        "0.05",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        url = line.decode().strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        client = Client(session, url, JSON)
        stream = await client.subscribe()
        offers = await stream.offers(2)
        racks = {a["text"]["value"] for o in offers for a in o["attributes"]}
        assert racks == {"r0", "r1"}
        await client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=20)
    assert code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--listen", "nowhere"],
        ["--listen", "127.0.0.1:99999"],
        ["--agents", "-1"],
        ["--agent-resources", "cpus:many"],
        ["--agent-resources", "cpus(web):4"],
        ["--agent-attributes", "rack:{__import__('os')}"],
        ["--hostname-template", "n{i/0}"],
        ["--heartbeat-interval", "0"],
        ["--zk", "http://127.0.0.1:2181/mesos"],
    ],
)
def test_cli_bad_options_exit_2_without_traceback(args: list[str]) -> None:
    result = subprocess.run([PYTHON, "-m", "harness", *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "error:" in result.stderr
