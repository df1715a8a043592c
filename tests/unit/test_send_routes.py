"""The send API includes a route module on the first request for one of its paths
(functions/send/app.py, ROUTE_MODULES): every route must be reachable that way, and which
modules came first must never change which route answers."""

import importlib
import re
from collections.abc import Iterator
from types import ModuleType

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from local.functions import load_function

PLACEHOLDER = re.compile(r"<[^>]+>")


@pytest.fixture
def send() -> Iterator[ModuleType]:
    """The send function as a cold start has it (load_function keeps one for the process)."""
    fresh = load_function.__wrapped__("send")
    # A router answers for the resolver that included it last: the process's own send
    # function gets its routers back.
    resolvers = {m: importlib.import_module(m).router.api_resolver for m in fresh.ROUTE_MODULES}
    yield fresh
    for module, resolver in resolvers.items():
        importlib.import_module(module).router.api_resolver = resolver


def routes(module: str) -> list[tuple[str, str]]:
    """(method, rule) of each route the module declares."""
    router = importlib.import_module(module).router
    return [(method, key[0]) for key in router._routes for method in key[1]]


def sample(rule: str) -> str:
    return PLACEHOLDER.sub("x", rule)


def test_a_cold_start_includes_no_route_module(send: ModuleType) -> None:
    # GIVEN the send function just loaded, THEN it answers only its own description so far
    assert send._included == set()
    (registered,) = send.app._static_routes + send.app._dynamic_routes
    assert registered.rule.match(send.OPENAPI_PATH)


def test_every_route_is_included_by_the_first_request_for_its_path(send: ModuleType) -> None:
    for module in send.ROUTE_MODULES:
        for method, rule in routes(module):
            # GIVEN a fresh function, WHEN a request for this route's path comes first
            fresh = load_function.__wrapped__("send")
            fresh.include_routes(sample(rule))
            # THEN its module is included, and the resolver has the route
            assert module in fresh._included, (method, rule)
            assert any(
                r.method == method and r.rule.match(sample(rule))
                for r in fresh.app._static_routes + fresh.app._dynamic_routes
            ), (method, rule)


def test_no_route_of_another_module_answers_a_routes_path(send: ModuleType) -> None:
    # GIVEN every route of every module
    declared = [(m, method, rule) for m in send.ROUTE_MODULES for method, rule in routes(m)]
    for module, method, rule in declared:
        # THEN only its own module has a route for its method and path: the order in which
        # modules were included cannot change which route answers
        answering = {
            m
            for m, other_method, other in declared
            if other_method == method
            and APIGatewayRestResolver._compile_regex(other).match(sample(rule))
        }
        assert answering == {module}, (method, rule)


def test_the_description_includes_every_module_and_a_stray_path_none(send: ModuleType) -> None:
    send.include_routes("/v1/nothing-here")
    assert send._included == set()
    send.include_routes(send.DOCS_PATH)
    assert send._included == {*send.ROUTE_MODULES, send.DOCS_PATH}
