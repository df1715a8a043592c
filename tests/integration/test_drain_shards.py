"""A sharded sender: its drainers, each a process of its own, keep the pair limit together."""

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise

from local.graph_api_peer import GraphApiPeer
from postino import aws
from postino.drain.drainer import Drainer
from postino.drain.state import DrainReport
from postino.drain.targets import DrainTarget, shards_for
from postino.services import Services
from postino.store.senders import DEFAULT_SENDER
from tests.integration.test_drain import limit_default_sender, text
from tests.support.events import HttpResult

Api = Callable[..., HttpResult]


def test_two_shards_never_send_to_one_person_closer_than_the_pair_limit(
    api: Api, services: Services, make_services: Callable[..., Services], peer: GraphApiPeer
) -> None:
    # GIVEN a sender at 200 a second (two shards), two messages to one person, first and last
    # of twelve, and a peer that answers in 2 s: a drainer of ten send threads busy with the
    # first ten takes no more, so the second shard gets the last two
    limit_default_sender(api, max=200, per_seconds=1)
    assert shards_for(services.senders.get(DEFAULT_SENDER)) == 2
    person = "+39 333 000 0001"
    for n in range(12):
        api("POST", "/v1/messages", text(person if n in (0, 11) else f"+39 333 100 {n:04d}"))
    peer.latency = 2.0
    # WHEN both shards drain at once, each in a process of its own (its own stores and caches)
    reports: list[DrainReport] = []

    def drain(shard: int) -> None:
        with aws.acting_as("SchedulerFunction"):
            own = make_services()
            own = replace(own, settings=own.settings.model_copy(update={"drain_concurrency": 10}))
            reports.append(
                Drainer(own, DrainTarget(DEFAULT_SENDER, shard)).run(own.clock.now() + 16)
            )

    threads = [threading.Thread(target=drain, args=(shard,)) for shard in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.7)  # the first shard has taken its ten
    for thread in threads:
        thread.join(timeout=60)
    # THEN both shards sent, none twice, and the person's two are at least 6 s apart
    assert all(r.sent for r in reports)
    assert sum(r.sent for r in reports) == len(peer.sent_messages())
    to_person = sorted(
        r.received_at for r in peer.sent_messages() if r.body["to"] == "393330000001"
    )
    assert len(to_person) == 2
    assert all(b - a >= 6 for a, b in pairwise(to_person))
