"""The soak, short: `make soak` at a sixteenth of its size (60 of its 1,000 messages: the run is
the webhook processor working through their status deliveries at moto's pace), so every CI run
goes through the faults."""

from bench.soak import SoakPlan, run
from local.meta_contract import spec_path
from tests.support.prerequisites import require_contract

# AWS fails too: DynamoDB throttles, DynamoDB and SQS 500s, writes applied then dropped.
AWS_FAULTS = True


def test_a_short_soak_loses_nothing_doubles_nothing_and_breaks_no_limit() -> None:
    require_contract(spec_path())  # the Meta sandbox checks requests against it
    # GIVEN 60 messages over three senders, Meta failing now and then and repeating its webhooks
    # WHEN a drainer is killed mid-batch, two start at once and one is frozen past its lease
    lines, findings = run(
        SoakPlan(messages=60, kills=1, deadline_seconds=300, aws_faults=AWS_FAULTS)
    )
    # THEN every check of the full soak holds
    assert findings.violations == 0, "\n".join(lines)
    assert sum(findings.statuses.values()) == 60
    # AND with AWS faults on, AWS did fail under it
    assert not AWS_FAULTS or sum((findings.aws_faults_injected or {}).values()) > 0
