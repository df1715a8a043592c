"""Lambda's DynamoDB stream event source, locally: each table stream a function's template
events name is read from moto (as the function's own role, as Lambda's poller reads it) and
handed to the function in batches, in the stream's order.

As the template sets it: from the newest record on (LATEST), at most BatchSize a batch, a
record older than MaximumRecordAgeInSeconds skipped, and a batch that fails dropped
(MaximumRetryAttempts 0)."""

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.template_stack import StackResources, load_template, resolve_all

Handler = Callable[[dict[str, Any]], Any]
POLL_SECONDS = 0.25  # Lambda polls a shard four times a second


@dataclass(frozen=True)
class StreamSource:
    stream_arn: str
    batch_size: int
    max_age_seconds: int


def stream_sources(function: str, resources: StackResources) -> list[StreamSource]:
    events = load_template()["Resources"][function]["Properties"].get("Events", {})
    sources = []
    for event in events.values():
        if event["Type"] != "DynamoDB":
            continue
        properties = resolve_all(event["Properties"], resources, {})
        if properties.get("StartingPosition") != "LATEST" or properties.get(
            "MaximumRetryAttempts", -1
        ):
            raise ValueError(f"{function}: the local stream source emulates LATEST, no retries")
        sources.append(
            StreamSource(
                properties["Stream"],
                int(properties.get("BatchSize", 100)),
                int(properties.get("MaximumRecordAgeInSeconds", -1)),
            )
        )
    return sources


def streams_client(session: Any, region: str) -> Any:
    """DynamoDB Streams, as a stream source's poller reads it. botocore now names an account's
    own endpoint (<account>.streams-ddb.<region>…), which moto's in-process mock does not
    route; the regional one it does. Against moto's server (AWS_ENDPOINT_URL) either works."""
    endpoint = (
        os.environ.get("AWS_ENDPOINT_URL") or f"https://streams.dynamodb.{region}.amazonaws.com"
    )
    return session.client("dynamodbstreams", region_name=region, endpoint_url=endpoint)


class StreamPoller:
    """One stream's shard, read from its newest record on."""

    def __init__(self, streams: Any, source: StreamSource) -> None:
        self.streams = streams
        self.source = source
        shard = streams.describe_stream(StreamArn=source.stream_arn)["StreamDescription"]["Shards"]
        self.iterator: str = streams.get_shard_iterator(
            StreamArn=source.stream_arn,
            ShardId=shard[0]["ShardId"],
            ShardIteratorType="LATEST",
        )["ShardIterator"]

    def poll(self, handle: Handler) -> int:
        """One read; the function gets the records, if any. Returns how many it got."""
        answer = self.streams.get_records(ShardIterator=self.iterator, Limit=self.source.batch_size)
        self.iterator = answer["NextShardIterator"]
        records = [
            record | {"eventSourceARN": self.source.stream_arn}
            for record in answer.get("Records", [])
            if self._young(record)
        ]
        if records:
            handle({"Records": records})
        return len(records)

    def _young(self, record: dict[str, Any]) -> bool:
        if self.source.max_age_seconds < 0:
            return True
        created = record["dynamodb"]["ApproximateCreationDateTime"]
        stamp = created.timestamp() if hasattr(created, "timestamp") else float(created)
        return time.time() - stamp <= self.source.max_age_seconds


def stream_loop(
    stop: threading.Event,
    pollers: list[StreamPoller],
    handle: Handler,
    on_error: Callable[[Exception], None],
) -> None:
    """Every stream polled in turn until `stop`; a failed batch is dropped, as the template
    asks (no retries), and the reading goes on."""
    while not stop.is_set():
        got = 0
        for poller in pollers:
            try:
                got += poller.poll(handle)
            except Exception as error:
                on_error(error)
        if not got:
            stop.wait(POLL_SECONDS)
