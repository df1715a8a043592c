"""The honest meter's rules: DynamoDB item sizes and units, index writes, SQS and EventBridge
chunks, the drain's billed time, and what the idle month reads from a template."""

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from bench.dynamodb_units import (
    Index,
    Table,
    index_write,
    item_size,
    read_units_of,
    table_specs,
    write_cost,
)
from bench.idle_month import alarm_metrics, function_secrets, ticks_per_month
from bench.meter import DrainModel
from bench.request_costs import (
    dynamodb_read,
    dynamodb_write,
    event_chunks,
    sqs_chunks,
    write_targets,
)

BY_STATUS = Index("by_status", ("status_key", "created_key"))
BY_CAMPAIGN = Index("by_campaign", ("campaign_key",), "INCLUDE", ("status",))
MESSAGES = Table("MessagesTable", ("id",), (BY_STATUS, BY_CAMPAIGN))


def s(text: str) -> dict[str, str]:
    return {"S": text}


def message(**extra: Any) -> dict[str, Any]:
    return {"id": s("m1"), "status_key": s("queued"), "created_key": s("c1"), **extra}


# ---- sizes ---------------------------------------------------------------------------------


def test_a_string_counts_its_name_and_its_utf8_bytes() -> None:
    assert item_size({"id": s("m1")}) == 2 + 2
    assert item_size({"name": s("città")}) == 4 + 6  # à is two bytes


def test_a_number_counts_a_byte_per_two_significant_digits_and_one_more() -> None:
    # 1795600000: significant digits 17956 (trailing zeros trimmed): 3 + 1 bytes
    assert item_size({"n": {"N": "1795600000"}}) == 1 + 4
    assert item_size({"n": {"N": "-0.50"}}) == 1 + 2  # digit 5


def test_binary_bool_null_and_sets() -> None:
    raw = base64.b64encode(b"\x00\x01\x02").decode()
    assert item_size({"b": {"B": raw}}) == 1 + 3
    assert item_size({"t": {"BOOL": True}, "z": {"NULL": True}}) == 1 + 1 + 1 + 1
    assert item_size({"ss": {"SS": ["ab", "c"]}}) == 2 + 3


def test_a_list_and_a_map_cost_three_bytes_and_one_a_element() -> None:
    # L: 3 + (N "1": 2 + 1) + (BOOL: 1 + 1)
    assert item_size({"l": {"L": [{"N": "1"}, {"BOOL": False}]}}) == 1 + 3 + 3 + 2
    # M: 3 + (name "a" 1 + S "xy" 2 + 1)
    assert item_size({"m": {"M": {"a": s("xy")}}}) == 1 + 3 + 4


def test_an_absent_item_is_empty() -> None:
    assert item_size(None) == 0


# ---- writes --------------------------------------------------------------------------------


def padded(size: int) -> dict[str, Any]:
    """An item of exactly `size` bytes: "id" = "m1" (4 bytes), "p" padding the rest."""
    return {"id": s("m1"), "p": s("x" * (size - 4 - 1))}


def test_a_write_costs_a_unit_per_started_kb_of_the_larger_of_before_and_after() -> None:
    table = Table("T", ("id",))
    assert write_cost(table, None, padded(1024)).units == 1
    assert write_cost(table, None, padded(1025)).units == 2
    assert write_cost(table, padded(2500), padded(100)).units == 3  # the item before counts


def test_a_failed_conditional_write_still_costs_its_units_and_touches_no_index() -> None:
    # GIVEN an item of 1.5 KB that the write's condition kept as it was
    before = message(p=s("x" * 1500))
    cost = write_cost(MESSAGES, before, before)
    assert cost.table_units == 2 and cost.indexes == ()
    # AND a conditional put of a new item refused: at least one unit, the item it asked for
    assert write_cost(MESSAGES, None, None, requested=padded(1100)).units == 2
    assert write_cost(MESSAGES, None, None).units == 1


def test_a_transaction_costs_twice_the_units_of_each_item() -> None:
    assert write_cost(Table("T", ("id",)), None, padded(1500), transactional=True).units == 4


# ---- indexes -------------------------------------------------------------------------------


def test_an_index_key_change_costs_a_delete_and_a_put() -> None:
    moved = index_write(MESSAGES, BY_STATUS, message(), message(status_key=s("sent")))
    assert (moved.deletes, moved.puts, moved.updates, moved.units) == (1, 1, 0, 2)


def test_a_keys_only_index_is_untouched_by_an_update_of_a_non_key_attribute() -> None:
    before, after = message(body=s("hi")), message(body=s("hello"), receipts={"L": []})
    assert index_write(MESSAGES, BY_STATUS, before, after).units == 0
    cost = write_cost(MESSAGES, before, after)
    assert cost.indexes == () and cost.units == 1


def test_an_entry_appears_with_its_keys_and_disappears_without_them() -> None:
    put = index_write(MESSAGES, BY_STATUS, None, message())
    assert (put.puts, put.units) == (1, 1)
    gone = index_write(MESSAGES, BY_STATUS, message(), {"id": s("m1")})
    assert (gone.deletes, gone.units) == (1, 1)
    # an item without the campaign key is not in the campaign index at all
    assert index_write(MESSAGES, BY_CAMPAIGN, None, message()).units == 0


def test_an_included_attribute_that_changes_updates_the_entry_in_place() -> None:
    before = message(campaign_key=s("c#1"), status=s("queued"), body=s("hi"))
    changed = index_write(MESSAGES, BY_CAMPAIGN, before, before | {"status": s("sent")})
    assert (changed.updates, changed.puts, changed.deletes, changed.units) == (1, 0, 0, 1)
    # an attribute it does not include changes nothing there
    assert index_write(MESSAGES, BY_CAMPAIGN, before, before | {"body": s("yo")}).units == 0


def test_an_all_projection_carries_the_whole_item() -> None:
    listed = Table("Inbox", ("pk",), (Index("by_list", ("list_pk",), "ALL"),))
    item = {"pk": s("p"), "list_pk": s("l"), "text": s("x" * 1100)}
    assert write_cost(listed, None, item).units == 2 + 2


def test_table_specs_read_the_template_indexes() -> None:
    template = {"Resources": {"MessagesTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [{
            "IndexName": "by_campaign",
            "KeySchema": [{"AttributeName": "campaign_key", "KeyType": "HASH"},
                          {"AttributeName": "created_key", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]}}]}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}}}  # fmt: skip
    (table,) = table_specs(template).values()
    assert table.keys == ("id",)
    assert table.indexes == (Index("by_campaign", ("campaign_key", "created_key"), "INCLUDE",
                                   ("status",)),)  # fmt: skip


# ---- reads ---------------------------------------------------------------------------------


def test_a_read_costs_a_unit_per_started_4_kb_half_when_eventually_consistent() -> None:
    assert read_units_of(4096, consistent=True) == 1
    assert read_units_of(4097, consistent=True) == 2
    assert read_units_of(4097, consistent=False) == 1
    assert read_units_of(0, consistent=False) == 0.5  # an item not found still costs


class FakeItems:
    def __init__(self, *items: dict[str, Any]) -> None:
        self.items = {item["id"]["S"]: item for item in items}

    def table(self, name: str) -> Table | None:
        return MESSAGES

    def get(self, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.items.get(key["id"]["S"])


def test_a_query_of_a_keys_only_index_reads_its_entries_not_the_items() -> None:
    # GIVEN two 3 KB messages; an index entry holds only their keys
    big = [message(id=s(f"m{n}"), p=s("x" * 3000)) for n in (1, 2)]
    answer = {"Items": [{k: m[k] for k in ("id", "status_key", "created_key")} for m in big]}
    body = {"TableName": "postino-MessagesTable", "IndexName": "by_status"}
    assert dynamodb_read("Query", body, answer, FakeItems(*big)) == 0.5
    # WHEN the table is read instead, their whole size is: 6 KB, eventually consistent
    assert dynamodb_read("Query", {"TableName": "t"}, answer, FakeItems(*big)) == 1.0


def test_a_consistent_get_of_a_missing_item_costs_one_unit() -> None:
    body = {"TableName": "t", "Key": {"id": s("nobody")}, "ConsistentRead": True}
    assert dynamodb_read("GetItem", body, {}, FakeItems()) == 1.0


def test_a_batch_write_bills_each_item_and_a_transaction_each_item_twice() -> None:
    # GIVEN m1 stored; a batch puts m2 and deletes m1
    items = FakeItems(message())
    batch = {"RequestItems": {"t": [{"PutRequest": {"Item": message(id=s("m2"))}},
                                    {"DeleteRequest": {"Key": {"id": s("m1")}}}]}}  # fmt: skip
    targets = write_targets("BatchWriteItem", batch)
    before = [items.get(t.table, t.key) for t in targets]
    charges = dynamodb_write("BatchWriteItem", targets, before, [message(id=s("m2")), None], items)
    # THEN each item costs its unit, and each its index entry: one put, one delete
    assert [(c.what, c.units) for c in charges] == [
        ("dynamodb:BatchWriteItem", 1), ("index MessagesTable.by_status (BatchWriteItem)", 1),
        ("dynamodb:BatchWriteItem", 1), ("index MessagesTable.by_status (BatchWriteItem)", 1),
    ]  # fmt: skip
    # AND a transaction's put costs two units, its condition check two more
    body = {"TransactItems": [{"Put": {"TableName": "t", "Item": message(id=s("m3"))}},
                              {"ConditionCheck": {"TableName": "t", "Key": {"id": s("m1")}}}]}  # fmt: skip
    targets = write_targets("TransactWriteItems", body)
    charges = dynamodb_write("TransactWriteItems", targets, [None, message()],
                             [message(id=s("m3")), message()], items)  # fmt: skip
    assert [c.units for c in charges if c.what == "dynamodb:TransactWriteItems"] == [2, 2]


# ---- SQS and EventBridge -------------------------------------------------------------------


def test_sqs_bills_a_request_per_started_64_kb_of_its_messages() -> None:
    ten = {"Entries": [{"Id": str(n), "MessageBody": "x" * 500} for n in range(10)]}
    assert sqs_chunks("SendMessageBatch", ten, {}) == 1
    assert sqs_chunks("SendMessage", {"MessageBody": "x" * 70_000}, {}) == 2
    assert sqs_chunks("ReceiveMessage", {}, {}) == 1  # an empty receive is a request too


def test_eventbridge_bills_each_entry_not_each_request() -> None:
    entries = [{"Source": "postino", "DetailType": "MessageStatusChanged", "Detail": "{}"}] * 10
    assert event_chunks({"Entries": entries}) == 10
    huge = {"Source": "postino", "DetailType": "X", "Detail": "x" * 70_000}
    assert event_chunks({"Entries": [huge]}) == 2


# ---- the drain -----------------------------------------------------------------------------


def test_a_drained_message_bills_the_longer_of_its_cpu_and_its_slot() -> None:
    # 8 ms of CPU at one vCPU: the 80 msg/s slot (12.5 ms) is longer
    assert DrainModel(8.0, 9.0, 80, 1769).billed_s_per_message == pytest.approx(0.0125)
    # at 512 MB a vCPU share of 0.29: the same CPU takes 27.6 ms
    assert DrainModel(8.0, 9.0, 80, 512).billed_s_per_message == pytest.approx(0.008 * 1769 / 512)
    # a message alone: the run's and its CPU, its round trips and Meta's 200 ms
    assert DrainModel(8.0, 9.0, 80, 1769).lone_billed_ms(2090.0) == 17 + 2090 + 200


# ---- the idle month ------------------------------------------------------------------------


def idle_template() -> dict[str, Any]:
    alarm = {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Period": 300}}
    return {
        "Parameters": {"AppSecretName": {"Default": "a"}, "TokenName": {"Default": "t"},
                       "SecretsPrefix": {"Default": "p/"}, "WithWaha": {"Default": "false"}},
        "Conditions": {"Waha": {"Fn::Equals": [{"Ref": "WithWaha"}, "true"]}},
        "Globals": {"Function": {"Environment": {"Variables": {
            "APP_SECRET": {"Ref": "AppSecretName"}}}}},
        "Resources": {
            "Errors": alarm,
            "Fast": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Period": 10}},
            "Math": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Metrics": [
                {"Id": "e", "Expression": "a + b"},
                {"Id": "a", "MetricStat": {"Period": 300}},
                {"Id": "b", "MetricStat": {"Period": 300}}]}},
            "WahaAlarm": {**alarm, "Condition": "Waha"},
            "SchedulerFunction": {"Type": "AWS::Serverless::Function", "Properties": {
                "Events": {"Tick": {"Type": "ScheduleV2", "Properties": {
                    "ScheduleExpression": "rate(5 minutes)"}}},
                "Policies": [{"Statement": [{"Resource": [
                    {"Fn::Sub": "arn:aws:secretsmanager:r:1:secret:${TokenName}-??????"},
                    {"Fn::Sub": "arn:aws:secretsmanager:r:1:secret:${SecretsPrefix}*"}]}]}]}},
        },
    }  # fmt: skip


def test_the_idle_month_counts_alarms_metrics_as_rendered_and_the_secrets_functions_read() -> None:
    template = idle_template()
    alarms = alarm_metrics(template)
    # the WAHA alarm is not created with the default parameters; the math alarm bills 2 metrics
    assert alarms == {"Errors": (1, False), "Fast": (1, True), "Math": (2, False)}
    assert function_secrets(template) == {"AppSecretName", "TokenName"}  # not the prefix
    assert ticks_per_month(template) == 30 * 24 * 60 // 5
