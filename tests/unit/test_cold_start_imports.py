"""What a function's cold start leaves out (bench/cold_start.py times it): the processor and a
status settled at the webhook route load neither httpx, nor the reservations, nor Powertools'
batch utility; the providers are built on their first use, once."""

import importlib
import pkgutil
import subprocess
import sys
import threading
import time

from pydantic import BaseModel

import postino
from local.template_stack import REPO_ROOT
from postino.model import Model
from postino.providers.router import OnFirstUse

LEFT_OUT = ("httpx", "postino.reservations.model", "aws_lambda_powertools.utilities.batch")


def imported_after(folder: str, statement: str) -> set[str]:
    probe = f"{statement}; import sys; print(' '.join(sys.modules))"
    environment = {
        "PYTHONPATH": f"{REPO_ROOT / folder}:{REPO_ROOT / 'layers/common'}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT / folder,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(done.stdout.split())


def test_the_processor_starts_without_the_modules_a_status_does_not_need() -> None:
    modules = imported_after("functions/webhook", "import process")
    assert "postino.webhooks.process" in modules
    assert not modules & set(LEFT_OUT)


def test_a_status_settled_at_the_webhook_route_loads_no_provider() -> None:
    modules = imported_after(
        "functions/webhook",
        "import app, postino.services, postino.webhooks.process; postino.services.get_services()",
    )
    assert not modules & {*LEFT_OUT, "postino.providers.cloud_api", "postino.providers.waha"}


def test_a_value_on_first_use_is_built_once_when_threads_ask_at_once() -> None:
    built: list[int] = []

    def make() -> int:
        time.sleep(0.05)  # long enough for every thread to ask before it is done
        built.append(1)
        return 42

    value = OnFirstUse(make)
    assert built == []  # nothing before the first ask
    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(value.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [42] * 8 and built == [1]


def test_every_model_of_the_layer_is_built_on_first_use() -> None:
    for found in pkgutil.walk_packages(postino.__path__, "postino."):
        importlib.import_module(found.name)
    ours = [
        model
        for model in _subclasses(BaseModel)
        if model.__module__.startswith("postino.") and model is not Model
    ]
    assert len(ours) > 50
    assert [m.__qualname__ for m in ours if not issubclass(m, Model)] == []


def _subclasses(cls: type[BaseModel]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for subclass in cls.__subclasses__():
        found += [subclass, *_subclasses(subclass)]
    return found
