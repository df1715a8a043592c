"""The whole virtual AWS, wired: everything a drainer talks to, and each process's Services over
it."""

import random
from dataclasses import dataclass

from bench.virtual_aws.clock import VirtualAws
from bench.virtual_aws.cloud_api import VirtualCloudApi
from bench.virtual_aws.dynamodb import (
    RateWindowTable,
    VirtualLease,
    VirtualMessages,
    VirtualRateWindows,
    VirtualSenders,
)
from bench.virtual_aws.sqs import VirtualQueues, VirtualSqs
from postino.clock import FakeClock
from postino.nudge import DrainNudger
from postino.outbox import QUEUE_ATTRIBUTES
from postino.senders.model import Sender
from postino.services import Services
from postino.settings import Settings
from postino.store.inbox import InboxStore


@dataclass
class VirtualStack:
    """Everything a drainer talks to, in simulated time; each process's Services come from here."""

    aws: VirtualAws
    sqs: VirtualSqs
    messages: VirtualMessages
    windows: RateWindowTable
    lease: VirtualLease
    senders: VirtualSenders
    peer: VirtualCloudApi

    @classmethod
    def build(cls, clock: FakeClock, senders: list[Sender], *, seed: int) -> "VirtualStack":
        aws = VirtualAws(clock, seed)
        return cls(
            aws=aws,
            sqs=VirtualSqs(aws, int(QUEUE_ATTRIBUTES["VisibilityTimeout"])),
            messages=VirtualMessages(aws),
            windows=RateWindowTable(aws),
            lease=VirtualLease(aws),
            senders=VirtualSenders(aws, senders),
            peer=VirtualCloudApi(aws),
        )

    def services(self, settings: Settings, seed: int) -> Services:
        """One Lambda process's Services: a RateWindowStore (its cache, its key locks) and queue
        URLs of its own; the tables, the queues and the peer shared."""
        return Services(
            settings=settings,
            clock=self.aws.clock,
            messages=self.messages,
            senders=self.senders,
            inbox=InboxStore("InboxTable", 90),  # the drain never reads it
            rate_windows=VirtualRateWindows(self.windows),
            lease=self.lease,
            queues=VirtualQueues(self.sqs, settings.sender_queue_prefix),
            provider=self.peer,
            nudger=DrainNudger(""),  # the bench starts drainers itself
            rng=random.Random(seed),
        )
