"""The local servers' HTTP server: threads, and a listen backlog for the drain's bursts."""

from http.server import ThreadingHTTPServer


class LocalHttpServer(ThreadingHTTPServer):
    """A drain opens dozens of connections at once; the default backlog of 5 resets some of
    them on a busy machine (a send that reads as an unknown outcome)."""

    request_queue_size = 256
    daemon_threads = True
