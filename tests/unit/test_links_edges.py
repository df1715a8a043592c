"""The link signing key: read from Secrets Manager, cached 5 minutes, a clear 503 without it."""

import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from postino import aws
from postino.errors import PostinoError
from postino.links import signing_key

SECRET = "postino/links/signing-key"


class FakeSecrets:
    """Secrets Manager as `aws.secret` reads it: a value by name, and the cache age asked."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.max_ages: list[int] = []

    def secret(self, name: str, max_age: int) -> str:
        self.max_ages.append(max_age)
        if name not in self.values:
            raise GetParameterError(f"no secret {name}")
        return self.values[name]


def test_the_key_is_the_secret_s_bytes_cached_at_most_five_minutes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the secret holds a key
    secrets = FakeSecrets({SECRET: "k3y-é"})
    monkeypatch.setattr(aws, "secret", secrets.secret)
    # WHEN the key is read THEN it is the value's UTF-8 bytes, and a rotation shows in 5 minutes
    assert signing_key(SECRET) == "k3y-é".encode()
    assert secrets.max_ages == [300]


def test_without_the_secret_the_error_says_which_secret_to_create(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN no such secret
    monkeypatch.setattr(aws, "secret", FakeSecrets({}).secret)
    # WHEN the key is read
    with pytest.raises(PostinoError) as raised:
        signing_key(SECRET)
    # THEN a 503 with its code and a sentence that names the secret to create
    assert (raised.value.code, raised.value.status) == ("link_key_missing", 503)
    assert f"create the secret '{SECRET}' in Secrets Manager" in raised.value.message
