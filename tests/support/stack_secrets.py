"""A stack secret as an operator can leave it: the template names each secret but creates none
(README: `aws secretsmanager create-secret`), and Secrets Manager takes no empty value."""

import logging

import boto3

from local import iam

NEVER_CREATED = "never created"
NO_VALUE = "created with no value"
UNSET = (NEVER_CREATED, NO_VALUE)


def unset_secret(name: str, how: str) -> None:
    secrets = boto3.client("secretsmanager")
    secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    if how == NO_VALUE:
        secrets.create_secret(Name=name)  # `create-secret --name` alone: no version to read


def take_refused_reads_of(name: str) -> None:
    """A role may read `name-??????` only, and a secret never created has no such ARN: AWS
    answers AccessDenied, which the function takes as no secret. Those refusals, and no other,
    are expected (the stack fixture fails a test on any refusal left)."""
    denied = iam.take_denials()
    assert all(
        d.action == "secretsmanager:GetSecretValue" and d.resource.endswith(f":secret:{name}")
        for d in denied
    ), denied


def assert_named_as_missing(name: str, records: list[logging.LogRecord]) -> None:
    """The function's log names the secret to create; AWS refused no read but of it."""
    take_refused_reads_of(name)
    assert any(
        r.getMessage() == "webhook secret unavailable" and getattr(r, "secret_name", None) == name
        for r in records
    )
