"""LiveFunction's billed duration, measured the way bench/aws_requests.py bills the other
functions: the handler's own CPU (moto's share taken out), stretched to its 256 MB share of a
vCPU, plus the modeled round trips of its AWS requests (bench/request_costs.py LATENCY_MS; a
post to @connections counts as the 10 ms of a service without a figure).

Each case through the real handler on moto with template.yaml's tables, 30 times after a
first call (clients built), the median:
- a page's routes: $connect (its token used up, the page kept), a keep-alive ($default), and
  $disconnect;
- stream batches of one record (a lone change) and of a hundred (a busy shard's batch), with no
  page open (the Query of the connections finds none) and with one (a post each frame).

    .venv/bin/python -m bench.live_duration
"""

import statistics
import time
from functools import partial
from typing import Any

from bench.aws_requests import stack
from bench.ledger import Call, Tally

LIVE_MEMORY_MB = 256  # template.yaml: LiveFunction's MemorySize
REPEATS = 30
STREAM_CASES = {
    "stream_1_record_no_page": (1, False),
    "stream_1_record_1_page": (1, True),
    "stream_100_records_no_page": (100, False),
    "stream_100_records_1_page": (100, True),
}
PAGE = "PageC0nnect1d="


def _records(table_arn: str, count: int) -> dict[str, Any]:
    """A stream batch: `count` messages' NEW_IMAGE, as DynamoDB Streams hands them to Lambda."""
    stream = f"{table_arn}/stream/2026-12-03T00:00:00.000"
    records = []
    for n in range(count):
        image = {
            "id": {"S": f"{n:032x}"},
            "sender": {"S": "default"},
            "to": {"S": "393331234567"},
            "status": {"S": "delivered"},
            "type": {"S": "template"},
            "updated_at": {"N": str(time.time())},
            "events": {"L": [{"M": {"phase": {"S": "delivered"}, "at": {"N": str(time.time())}}}]},
        }
        records.append(
            {
                "eventID": str(n),
                "eventName": "MODIFY",
                "eventSource": "aws:dynamodb",
                "eventSourceARN": stream,
                "dynamodb": {"NewImage": image, "StreamViewType": "NEW_IMAGE"},
            }
        )
    return {"Records": records}


def _with_page(connections: Any, page_open: bool, batch: dict[str, Any]) -> dict[str, Any]:
    """The batch, with the one page connected or none."""
    if page_open:
        connections.add(PAGE, time.time())
    else:
        connections.remove(PAGE)
    return batch


def measure() -> dict[str, Any]:
    tally = Tally()
    with stack(tally) as (services, _):
        import boto3

        from local.functions import load_function
        from postino.store.live_connections import LiveConnectionStore

        live = load_function("send", "live")
        settings = services.settings
        services.settings = settings.model_copy(
            update={"live_endpoint": "https://live0000.execute-api.us-east-1.amazonaws.com/prod"}
        )
        table_arn = boto3.client("dynamodb").describe_table(TableName=settings.messages_table)[
            "Table"
        ]["TableArn"]
        connections = LiveConnectionStore(settings.live_connections_table)

        def route(key: str, **fields: Any) -> dict[str, Any]:
            return {"requestContext": {"routeKey": key, "connectionId": PAGE}, **fields}

        def connect() -> dict[str, Any]:  # a fresh token each time: each is good once
            token = connections.issue_token(time.time())
            return route("$connect", queryStringParameters={"token": token})

        cases: dict[str, Any] = {
            "connect": connect,
            "keepalive": lambda: route("$default"),
            "disconnect": lambda: route("$disconnect"),
        }
        for case, (count, page_open) in STREAM_CASES.items():
            batch = _records(table_arn, count)
            cases[case] = lambda batch=batch, page_open=page_open: _with_page(
                connections, page_open, batch
            )
        figures: dict[str, Any] = {}
        for case, event_of in cases.items():
            calls: list[Call] = []
            for n in range(REPEATS + 1):
                tally.timed("live", partial(live.handle, event_of()))
                if n:  # the first call builds the clients
                    calls.append(tally.calls[-1])
            figures[case] = {
                "cpu_ms": round(statistics.median(c.cpu_s for c in calls) * 1000, 2),
                "aws_requests": calls[-1].requests,
                "aws_ms_modeled": calls[-1].aws_ms,
                "billed_ms": statistics.median(c.billed_ms_at(LIVE_MEMORY_MB) for c in calls),
            }
        return figures


def main() -> None:
    for case, figures in measure().items():
        print(
            f"{case:<28} CPU {figures['cpu_ms']:>5} ms, {figures['aws_requests']} AWS request(s) "
            f"({figures['aws_ms_modeled']:g} ms modeled): billed {figures['billed_ms']:g} ms "
            f"at {LIVE_MEMORY_MB} MB"
        )


if __name__ == "__main__":
    main()
