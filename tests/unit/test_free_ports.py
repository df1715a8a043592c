"""Ports for a local stack started beside others: different from each other, and free."""

import socket

from local.spawn import free_ports


def test_the_ports_chosen_together_differ_and_are_free() -> None:
    for _ in range(50):
        ports = free_ports(5)
        assert len(set(ports)) == 5
    for port in ports:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))  # nothing holds it once chosen
