"""The local stack seen from outside: started as a process of its own, for the demo, the bench
and the tests."""

import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from local.template_stack import REPO_ROOT


@dataclass
class StartedStack:
    process: "subprocess.Popen[str]"
    ready_line: str
    # Everything it printed after its ready line, read as it comes (a full pipe would block it).
    later: list[str]
    # What it printed before: its settings and URLs (the welcome).
    welcome: list[str]


def free_port() -> int:
    """A port nothing listens on now, for a stack started beside others (tests, the soak)."""
    (port,) = free_ports(1)
    return port


def free_ports(count: int) -> list[int]:
    """`count` different ports nothing listens on now: each held until all are chosen, so the
    system cannot hand the same one out twice."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


# What a stack that lost a port to another process (between choosing it and binding it) says.
PORT_TAKEN = "Address already in use"


def spawn(env: dict[str, str] | None = None, timeout: float = 90) -> StartedStack:
    """Start `python -m local.run` and wait for its ready line (for the demo, bench and tests)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "local.run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    stream = process.stdout
    before: list[str] = []
    deadline = time.monotonic() + timeout
    for line in stream:
        before.append(line)
        if line.startswith("ready: "):
            later: list[str] = []
            threading.Thread(target=later.extend, args=(stream,), daemon=True).start()
            return StartedStack(process, line.strip(), later, before)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("the local stack did not start:\n" + "".join(before))
