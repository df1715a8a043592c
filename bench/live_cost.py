"""What the dashboard's live updates cost: per 1,000 page-hours, quiet and busy, and what the
streams add per million messages when no page is open.

Prices from bench/prices.json. The counts are the design's, named below with why. LiveFunction's
durations are measured (bench/live_duration.py: its own CPU at 256 MB, plus its AWS requests'
modeled round trips); POST /v1/live's is an estimate, said where it is used.
Writes `live_cost` into bench/results.json, keeping every other key.

    .venv/bin/python -m bench.live_cost
"""

import json
from typing import Any

from bench.live_duration import measure
from bench.meter import RESULTS, Prices

PAGE_HOURS = 1_000
KEEPALIVES_PER_HOUR = 12  # the page pings every 5 minutes: API Gateway drops 10 idle minutes
RECONNECTS_PER_HOUR = 0.5  # API Gateway closes a connection after 2 hours
# A busy page watches a 1,000-message campaign an hour, each message written about six times
# (accepted, claimed, sent, then Meta's sent, delivered and read); at that pace each change is
# its own stream batch and its own frame.
BUSY_CHANGES_PER_HOUR = 6_000
STREAM_RECORDS_PER_MESSAGE = 6
# Lambda hands a shard's records over at most about 4 times a second: under load a batch holds
# up to 100 records; a lone message's writes, seconds apart, are a batch each.
RECORDS_PER_BATCH = {"worst": 1, "best": 100}
LIVE_MEMORY_GB = 0.25  # template.yaml: LiveFunction's MemorySize 256
SEND_MEMORY_GB = 0.5
SEND_BILLED_SECONDS = 0.02  # estimate: POST /v1/live writes one item


def invocation(prices: Prices, memory_gb: float, seconds: float) -> float:
    return prices.unit("lambda_requests") + memory_gb * seconds * prices.unit(
        "lambda_gb_second_arm64"
    )


def page_hours(
    prices: Prices, changes_per_hour: float, billed: dict[str, float]
) -> dict[str, float]:
    """Dollars for PAGE_HOURS of one page open, item by item; `billed`: LiveFunction's billed
    seconds per case (bench/live_duration.py)."""
    reconnect = (
        prices.unit("api_gateway_rest_requests")  # POST /v1/live
        + invocation(prices, SEND_MEMORY_GB, SEND_BILLED_SECONDS)
        + 2 * prices.unit("dynamodb_write_request_units")  # the token, issued then used up
        + invocation(prices, LIVE_MEMORY_GB, billed["connect"])
        + invocation(prices, LIVE_MEMORY_GB, billed["disconnect"])
        + 2 * prices.unit("dynamodb_write_request_units")  # the connection, kept then deleted
        + 2 * prices.unit("api_gateway_websocket_messages")  # API Gateway bills both as messages
    )
    # What an open page adds to a change's invocation (which runs whether a page is open or not:
    # per_million_messages): a post, and the read of the one connection.
    posting = billed["stream_1_record_1_page"] - billed["stream_1_record_no_page"]
    return {
        "connection minutes": PAGE_HOURS
        * 60
        * prices.unit("api_gateway_websocket_connection_minutes"),
        "keep-alives": PAGE_HOURS
        * KEEPALIVES_PER_HOUR
        * (
            prices.unit("api_gateway_websocket_messages")
            + invocation(prices, LIVE_MEMORY_GB, billed["keepalive"])
        ),
        "reconnections": PAGE_HOURS * RECONNECTS_PER_HOUR * reconnect,
        "events posted": PAGE_HOURS
        * changes_per_hour
        * (
            prices.unit("api_gateway_websocket_messages")
            + LIVE_MEMORY_GB * posting * prices.unit("lambda_gb_second_arm64")
        ),
    }


def per_million_messages(prices: Prices, records_per_batch: int, billed_seconds: float) -> float:
    """What the streams cost per million messages with no page open: LiveFunction still runs
    once a batch, and reads the connections (0.5 read unit: a Query of an empty partition)."""
    batches = 1e6 * STREAM_RECORDS_PER_MESSAGE / records_per_batch
    per_batch = invocation(prices, LIVE_MEMORY_GB, billed_seconds) + 0.5 * prices.unit(
        "dynamodb_read_request_units"
    )
    return batches * per_batch


def main() -> None:
    prices = Prices()
    measured = measure()
    billed = {case: figures["billed_ms"] / 1000 for case, figures in measured.items()}
    figures: dict[str, Any] = {"prices_as_of": prices.data["as_of"], "live_function": measured}
    print(f"LiveFunction, billed at {LIVE_MEMORY_GB * 1024:g} MB (bench/live_duration.py):")
    for case, seconds in billed.items():
        print(f"  {case:<28} {seconds * 1000:g} ms")
    for label, changes in (("quiet", 0), ("busy", BUSY_CHANGES_PER_HOUR)):
        rows = page_hours(prices, changes, billed)
        total = sum(rows.values())
        figures[f"usd_per_1000_page_hours_{label}"] = round(total, 4)
        print(
            f"{PAGE_HOURS:,} page-hours, {label} ({changes:,} changes an hour watched): ${total:.4f}"
        )
        for what, usd in rows.items():
            print(f"  {what:<22} ${usd:.4f}")
    for case, size in RECORDS_PER_BATCH.items():
        seconds = billed["stream_1_record_no_page" if size == 1 else "stream_100_records_no_page"]
        usd = per_million_messages(prices, size, seconds)
        figures[f"usd_per_million_messages_no_page_{case}"] = round(usd, 4)
        print(f"no page open, {size} record(s) a batch ({case}): ${usd:.4f} a million messages")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["live_cost"] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
