"""The simulated clock: time moves only when all work under way sleeps, to the earliest wake-up."""

import threading

from postino.clock import FakeClock

START = 1_000.0


def test_with_no_work_under_way_a_sleep_moves_the_time_at_once() -> None:
    clock = FakeClock(START)
    clock.sleep(2.5)
    clock.advance(0.5)
    assert clock.now() == START + 3


def run_as_work(clock: FakeClock, *jobs: object) -> list[threading.Thread]:
    """Start each job as work on the clock, counted before its thread runs (as the drain does)."""
    threads = []
    for job in jobs:
        clock.work_started()

        def body(job: object = job) -> None:
            try:
                job()  # type: ignore[operator]
            finally:
                clock.work_finished()

        threads.append(threading.Thread(target=body))
    for thread in threads:
        thread.start()
    return threads


def test_two_jobs_sleeping_at_once_take_the_longer_sleep_not_the_sum() -> None:
    # GIVEN two jobs under way, sleeping 1 s and 3 s
    clock = FakeClock(START)
    woke: dict[str, float] = {}

    def sleeper(name: str, seconds: float) -> None:
        clock.sleep(seconds)
        woke[name] = clock.now()

    # WHEN both run
    for thread in run_as_work(clock, lambda: sleeper("short", 1), lambda: sleeper("long", 3)):
        thread.join(5)
    # THEN each woke at its own time, and the sleeps overlapped (an adding clock ends at +4)
    assert woke == {"short": START + 1, "long": START + 3}
    assert clock.now() == START + 3


def test_time_stands_still_while_any_job_is_busy() -> None:
    # GIVEN a job that sleeps 1 s and a job busy (computing, or waiting on a peer) until told
    clock = FakeClock(START)
    busy_done = threading.Event()
    seen: list[float] = []

    def busy() -> None:
        busy_done.wait(5)
        seen.append(clock.now())

    # WHEN the busy job is still at work
    threads = run_as_work(clock, lambda: clock.sleep(1), busy)
    sleeper = threads[0]
    sleeper.join(0.2)
    # THEN the sleeper still sleeps, and the time has not moved
    assert sleeper.is_alive() and clock.now() == START
    # WHEN the busy job ends, time moves to the sleeper's wake-up
    busy_done.set()
    for thread in threads:
        thread.join(5)
    assert seen == [START] and clock.now() == START + 1


def test_a_sleeper_counts_as_awake_from_the_instant_time_reaches_it() -> None:
    # GIVEN jobs woken together at +1 that each sleep again for a different time
    clock = FakeClock(START)
    woke: list[tuple[str, float]] = []
    lock = threading.Lock()

    def job(name: str, second_sleep: float) -> None:
        clock.sleep(1)
        clock.sleep(second_sleep)
        with lock:
            woke.append((name, clock.now()))

    # WHEN they run, however their threads are scheduled
    for thread in run_as_work(clock, *(lambda n=n: job(f"j{n}", n * 0.5) for n in range(1, 6))):
        thread.join(5)
    # THEN no wake-up was skipped: each woke exactly at 1 + its own second sleep
    assert sorted(woke) == [(f"j{n}", START + 1 + n * 0.5) for n in range(1, 6)]
