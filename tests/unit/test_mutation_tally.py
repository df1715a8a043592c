"""`make mutate`'s score (tests/mutate.py): what counts as caught."""

from collections import Counter

from tests.mutate import _outcome, _summary


def test_a_timeout_is_caught_and_an_unreached_or_unjudged_mutant_is_not() -> None:
    # mutmut's exit codes: 1 killed, 0 survived, 36 timeout, 33 no tests, 35 suspicious
    counts = Counter(_outcome(code) for code in [1, 1, 1, 1, 1, 1, 36, 0, 33, 35])
    assert _summary(counts) == {
        "killed": 6,
        "survived": 1,
        "timeout": 1,
        "no_tests": 1,
        "other": 1,
        "score": 0.7,
    }


def test_nothing_judged_scores_zero() -> None:
    assert _summary(Counter())["score"] == 0.0
