"""moto and the Graph API peer, each in a process of its own, for the drain's figures.

In one process the drain, moto and the peer would share one GIL (and the tests' `_moto_lock`):
the peer's clock would lag and moto's CPU would be the drain's. Each child prints one
`ready <url>` line, then serves until its stdin closes, so a parent that dies takes it along.

    python -m bench.servers moto
    python -m bench.servers peer LATENCY_SECONDS ACCESS_TOKEN

The peer child answers `sent` on its stdin with one JSON line: [[to, received_at], ...] of the
message sends it accepted (its own receive times, time.time() on this machine's clock).
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_SECONDS = 60


@dataclass
class Child:
    """A started server: its URL, and its pipes for the few commands it takes."""

    process: "subprocess.Popen[str]"
    url: str

    def ask(self, command: str) -> str:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline()

    def cpu_seconds(self) -> float:
        """User + system CPU time the child has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


@contextmanager
def child(*arguments: str, module: str = "bench.servers") -> Iterator[Child]:
    """Start `python -m MODULE ARGUMENTS`; stop it on the way out, whatever happened."""
    process = subprocess.Popen(  # noqa: S603 - this interpreter, a module of ours
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the child's first line; it prints nothing before
        if not line.startswith("ready "):
            raise RuntimeError(f"{module} {' '.join(arguments)} did not start: {line!r}")
        yield Child(process, line.split(" ", 1)[1].strip())
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the child's cue to leave
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serve_moto() -> None:
    import logging

    from moto.server import ThreadedMotoServer

    from local import moto_speedups

    moto_speedups.apply()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"ready http://{host}:{port}", flush=True)
    for _ in sys.stdin:
        print("", flush=True)
    server.stop()


def _serve_peer(latency: float, token: str) -> None:
    from local.graph_api_peer import GraphApiPeer

    with GraphApiPeer(access_token=token) as peer:
        peer.latency = latency
        print(f"ready {peer.base_url}", flush=True)
        for line in sys.stdin:
            if line.strip() == "sent":
                sent = [[r.body["to"], r.received_at] for r in peer.sent_messages()]
                print(json.dumps(sent), flush=True)
            else:
                print("", flush=True)


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["moto"]:
            _serve_moto()
        case ["peer", latency, token]:
            _serve_peer(float(latency), token)
        case _:
            raise SystemExit(__doc__)
