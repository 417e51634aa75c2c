"""A real, throwaway ZooKeeper server for end-to-end tests (Debian's `zookeeper` package, run with java).

`make system-deps` installs the package. The server runs in a temporary directory on a free port bound
to 127.0.0.1, in the foreground as a child of the test process, and is stopped and removed on exit.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_JARS = ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-log4j12.jar", "log4j-1.2.jar")
_JAVA_DIR = Path("/usr/share/java")
_LOG4J_EXAMPLE = Path("/etc/zookeeper/conf_example/log4j.properties")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serving(port: int) -> bool:
    # `ruok` answers before the server serves; `srvr` names the mode only once it does.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"srvr")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
    except OSError:
        return False
    return b"Mode: standalone" in reply


@contextmanager
def zookeeper_server(startup_timeout: float = 30.0) -> Iterator[str]:
    """Run ZooKeeper; yield its ``host:port``. Raises if it does not come up in ``startup_timeout``."""
    root = Path(tempfile.mkdtemp(prefix="gantry-zk-"))
    conf = root / "conf"
    conf.mkdir()
    (root / "data").mkdir()
    port = _free_port()
    (conf / "zoo.cfg").write_text(
        "\n".join(
            [
                "tickTime=500",
                "initLimit=10",
                "syncLimit=5",
                f"dataDir={root / 'data'}",
                f"clientPort={port}",
                "clientPortAddress=127.0.0.1",
                "maxClientCnxns=200",
                "admin.enableServer=false",  # otherwise Jetty binds 0.0.0.0:8080
                "4lw.commands.whitelist=ruok,srvr,mntr,stat",
                "minSessionTimeout=1000",
                "maxSessionTimeout=60000",
                "",
            ]
        )
    )
    if _LOG4J_EXAMPLE.exists():
        shutil.copy(_LOG4J_EXAMPLE, conf / "log4j.properties")
    classpath = ":".join([str(conf), *(str(_JAVA_DIR / jar) for jar in _JARS)])
    command = [
        "java",
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        f"-Dzookeeper.log.dir={root}",
        "-Dzookeeper.root.logger=WARN,CONSOLE",
        f"-Dlog4j.configuration=file:{conf / 'log4j.properties'}",
        "-cp",
        classpath,
        "org.apache.zookeeper.server.ZooKeeperServerMain",
        str(conf / "zoo.cfg"),
    ]
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        deadline = time.monotonic() + startup_timeout
        while not _serving(port):
            if proc.poll() is not None:
                output = (root / "server.log").read_text()
                raise RuntimeError(f"ZooKeeper exited with {proc.returncode}: {output}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ZooKeeper not serving after {startup_timeout}s")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
