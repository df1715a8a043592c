"""EventBridge: the events Postino publishes for the user's other systems."""

from postino import aws


class EventNotPublished(Exception):
    """EventBridge refused the entry (it says so in its answer, not with an exception)."""


def publish(bus: str, source: str, detail_type: str, detail_json: str) -> None:
    response = aws.events().put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": detail_type,
                "Detail": detail_json,
                "EventBusName": bus,
            }
        ]
    )
    if response.get("FailedEntryCount"):
        entry = response["Entries"][0]
        raise EventNotPublished(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
