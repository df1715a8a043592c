"""Time `make run`'s stack: from start to its ready line, and from a send to `read`.

    .venv/bin/python bench/local_stack.py [runs]

Prints the figures of each run and their median. The venv must exist (make run creates it).
"""

import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from local.spawn import spawn  # noqa: E402 - after the project root is on the path

API = "http://127.0.0.1:3000"
HELLO = {
    "to": "+39 333 123 4567",
    "type": "template",
    "template": {"name": "hello_world", "language": {"code": "en_US"}},
}


def one_run() -> tuple[float, float]:
    started = time.monotonic()
    stack = spawn()
    try:
        ready = time.monotonic() - started
        sent = time.monotonic()
        answer = httpx.post(
            f"{API}/v1/messages", json=HELLO, headers={"x-api-key": "local-dev-key"}
        )
        path = f"{API}/v1/messages/{answer.json()['id']}"
        while httpx.get(path, headers={"x-api-key": "local-dev-key"}).json()["status"] != "read":
            time.sleep(0.05)
        return ready, time.monotonic() - sent
    finally:
        stack.process.terminate()
        stack.process.wait(timeout=30)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    figures = [one_run() for _ in range(runs)]
    for n, (ready, to_read) in enumerate(figures, 1):
        print(f"run {n}: start → ready {ready:.2f} s, POST → read {to_read:.2f} s")
    print(
        f"median of {runs}: start → ready {statistics.median(f[0] for f in figures):.2f} s, "
        f"POST → read {statistics.median(f[1] for f in figures):.2f} s"
    )


if __name__ == "__main__":
    main()
