"""Reservation requests: RES codes found in inbound messages, routed to an operator."""
