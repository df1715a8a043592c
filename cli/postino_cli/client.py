"""The one place that talks HTTP to the API and turns every failure into one sentence."""

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
from botocore.exceptions import BotoCoreError, ClientError

# Exit codes: what a script calling `postino` can branch on.
OK = 0
REFUSED = 1  # the API said no (4xx)
USAGE = 2  # a usage or configuration error
UNREACHABLE = 3  # the API did not answer, or failed (5xx)

KEY_REFUSED = "The API refused the key: check POSTINO_API_KEY."


class CliError(Exception):
    """A failure the user can act on: one sentence and the exit code it means."""

    def __init__(self, sentence: str, exit_code: int, code: str | None = None) -> None:
        super().__init__(sentence)
        self.exit_code = exit_code
        self.code = code  # the API's error code, when it gave one


@dataclass(frozen=True)
class Config:
    api_url: str
    api_key: str = field(repr=False)  # never shown, not even in a traceback's locals


def config_from_env() -> Config:
    url, key = os.environ.get("POSTINO_API_URL"), os.environ.get("POSTINO_API_KEY")
    if not url or not key:
        raise CliError(
            "Set POSTINO_API_URL and POSTINO_API_KEY, or name a deployed stack with --stack.",
            USAGE,
        )
    return Config(url.rstrip("/"), key)


def config_from_stack(stack_name: str) -> Config:
    """The API's URL and key from a deployed stack's outputs (ApiUrl, ApiKeyId)."""
    try:
        cloudformation: Any = boto3.client("cloudformation")
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        if "ApiUrl" not in outputs or "ApiKeyId" not in outputs:
            raise CliError(
                f"The stack {stack_name} has no ApiUrl and ApiKeyId outputs: is it Postino?", USAGE
            )
        apigateway: Any = boto3.client("apigateway")
        key = apigateway.get_api_key(apiKey=outputs["ApiKeyId"], includeValue=True)["value"]
    except ClientError as error:
        reason = error.response.get("Error", {}).get("Message") or str(error)
        raise CliError(f"Cannot read the stack {stack_name}: {_sentence(reason)}", USAGE) from error
    except BotoCoreError as error:  # no region, no credentials
        raise CliError(f"Cannot read the stack {stack_name}: {_sentence(error)}", USAGE) from error
    return Config(outputs["ApiUrl"].rstrip("/"), key)


class ApiClient:
    def __init__(self, config: Config, transport: httpx.BaseTransport | None = None) -> None:
        self.url = config.api_url
        self._http = httpx.Client(
            base_url=config.api_url,
            headers={"x-api-key": config.api_key},
            timeout=15.0,
            transport=transport,
        )

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=query).json()

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body).json()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise CliError(
                f"Cannot reach the API at {self.url}: {_sentence(error)}", UNREACHABLE
            ) from error
        if response.is_success:
            return response
        raise refusal(response)


def refusal(response: httpx.Response) -> CliError:
    """A failed answer as one sentence: API Gateway's key check, or the API's own error shape."""
    if response.status_code in (401, 403):
        return CliError(KEY_REFUSED, REFUSED)
    try:
        error = response.json()["error"]
        message, code = str(error["message"]), str(error.get("code") or "") or None
    except (ValueError, KeyError, TypeError, AttributeError):
        message, code = f"The API answered {response.status_code}: {response.text[:200]}", None
    return CliError(message, REFUSED if response.status_code < 500 else UNREACHABLE, code)


# A command: the client and the parsed arguments in, one of the exit codes above out.
Command = Callable[[ApiClient, argparse.Namespace], int]


def _sentence(error: Exception | str) -> str:
    text = str(error).rstrip(".")
    return f"{text or type(error).__name__}."
