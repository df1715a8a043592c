"""Module-level Powertools singletons and the masking every log line and trace goes through.

Traces carry no message content and no phone number: every handler's tracer decorator says
capture_response=False and capture_error=False, and the tracer's provider records an escaping
exception's type and stack without its message (see MessageFreeXRay).
"""

import numbers
from contextlib import AbstractAsyncContextManager
from functools import partial
from types import ModuleType, TracebackType
from typing import Any

import wrapt
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider
from aws_xray_sdk.core import patch, xray_recorder  # type: ignore[import-untyped]
from aws_xray_sdk.core.models.subsegment import (  # type: ignore[import-untyped]
    SubsegmentContextManager,
)


def message_free(error: BaseException) -> Exception:
    """A stand-in for an exception with its type's name and no message."""
    stand_in: type[Exception] = type(type(error).__name__, (Exception,), {})
    return stand_in()


class _MessageFreeSubsegment(SubsegmentContextManager):  # type: ignore[misc]
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, None if exc_val is None else message_free(exc_val), exc_tb)


class MessageFreeXRay(BaseProvider):
    """Powertools' X-Ray provider (the SDK's global recorder, which the patched AWS and HTTP
    clients record to as well), except for exception messages.

    The SDK adds str(exception) to the handler's subsegment whatever capture_error says, and a
    message can hold a phone number (a WAHA message id is `true_<phone>@c.us_...`).
    """

    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Any:
        return _MessageFreeSubsegment(xray_recorder, name=name, **kwargs)

    def in_subsegment_async(
        self, name: str | None = None, **kwargs: Any
    ) -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError("no handler or method here is async")

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        xray_recorder.put_annotation(key=key, value=value)

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        xray_recorder.put_metadata(key=key, value=value, namespace=namespace)

    def patch(self, modules: Any) -> None:
        patch(modules)

    def patch_all(self) -> None:
        """Patch the libraries the code calls out with, each when it is first imported: the
        SDK's patch_all imports botocore's client and httpx (and tries eleven more libraries)
        at init, also where no request calls AWS, Meta or WAHA."""
        for module, library in TRACED.items():
            wrapt.register_post_import_hook(partial(_patch, library), module)


# The module whose import patches → the library X-Ray patches: AWS through botocore (boto3
# imports its session, which has imported the client X-Ray wraps), Meta and WAHA through httpx.
TRACED = {"botocore.session": "botocore", "httpx": "httpx"}


def _patch(library: str, _: ModuleType) -> None:
    patch([library])


logger = Logger()
metrics = Metrics()
tracer = Tracer(provider=MessageFreeXRay())
if not tracer.disabled:
    # What Powertools does for its own X-Ray provider: send each subsegment as it ends.
    xray_recorder.configure(streaming_threshold=0)


def mask_phone(digits: str) -> str:
    """Keep the country-code end and the last three digits: enough to tell messages apart."""
    if len(digits) <= 5:
        return "*" * len(digits)
    return f"{digits[:2]}{'*' * (len(digits) - 5)}{digits[-3:]}"
