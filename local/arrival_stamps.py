"""When a request reached this host: the kernel's receive time of its first bytes, not the time
a server thread got round to reading them.

A local peer shares a process with other servers (the Meta sandbox runs beside moto's), and a
handler thread can wait for the interpreter for hundreds of ms: a time read then puts requests
sent apart into one moment, and the peer would count a rate its client never sent. Meta's edge
stamps a request when it arrives. Linux stamps each received packet (SO_TIMESTAMPNS), and gives
the stamp of what a read returns beside the bytes (recvmsg).
"""

import io
import socket
import struct
import sys
from collections.abc import Buffer

# Linux's value on every architecture Lambda and this machine run (asm-generic); Python's socket
# module names neither the option nor its message.
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("qq")

# Where the kernel can stamp: elsewhere a peer reads its clock as before.
SUPPORTED = sys.platform == "linux"


def stamp_arrivals(listening: socket.socket) -> None:
    """Have the kernel stamp what reaches this server's connections from now on: they inherit
    the option, and a packet is stamped on arrival only once some socket has asked."""
    listening.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


class StampedReader(io.RawIOBase):
    """A connection's reads, each with the kernel's time for the bytes it returned; wrap it in
    io.BufferedReader as socket.makefile would."""

    def __init__(self, connection: socket.socket) -> None:
        super().__init__()
        stamp_arrivals(connection)  # inherited from a listener so set; set again all the same
        self._connection = connection
        self._first: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:
        size, ancillary, _, _ = self._connection.recvmsg_into(
            [buffer], socket.CMSG_SPACE(_TIMESPEC.size)
        )
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and self._first is None:
                seconds, nanoseconds = _TIMESPEC.unpack(data[: _TIMESPEC.size])
                self._first = seconds + nanoseconds / 1e9
        return size

    def arrived(self) -> float | None:
        """When the first bytes read since the last call reached the host (None: none read), and
        forget it: a request's first bytes are read before its handler asks, and a call after
        its body keeps its later packets from standing for the next request."""
        first, self._first = self._first, None
        return first
