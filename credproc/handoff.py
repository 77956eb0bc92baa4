"""Hand a secret URL to the web browser without putting it on a command line.

Python's webbrowser starts the browser with the URL as an argument (BROWSER, xdg-open),
where any local user can read it (/proc/PID/cmdline) for as long as the browser runs. So the
browser gets a one-time loopback link instead, http://127.0.0.1:PORT/RANDOM, which answers
once, to a process of this user, with a redirect to the URL; then the port closes.
"""

from __future__ import annotations

import hmac
import os
import secrets
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from credproc.errors import UsageError
from credproc.prompt.process import SECRET_ENV

BROWSER_SECONDS = 60  # for the browser to start and ask for the link
READ_SECONDS = 5  # for one request to arrive whole, so a stalled client blocks nobody long
LOOPBACK = "127.0.0.1"

Address = tuple[str, int]


def _proc_net_tcp(address: Address) -> str:
    ip, port = address
    return f"{struct.unpack('=I', socket.inet_aton(ip))[0]:08X}:{port:04X}"


def _linux_peer_uid(peer: Address, local: Address) -> int | None:
    """The uid owning the client end of a loopback connection, from /proc/net/tcp (its
    addresses are printed as the kernel holds them: the IP as a native integer)."""
    wanted = (_proc_net_tcp(peer), _proc_net_tcp(local))
    try:
        with open("/proc/net/tcp", encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if len(fields) > 7 and (fields[1], fields[2]) == wanted:
                    return int(fields[7])
    except OSError:
        pass
    return None


# Where the owner of a connection can be known; elsewhere the random path is the only check.
PEER_UID: Callable[[Address, Address], int | None] | None = (
    _linux_peer_uid if sys.platform.startswith("linux") else None
)


class OneTimeLink:
    """A loopback HTTP server that redirects one GET of its random path to `url`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.secret = "/" + secrets.token_urlsafe(32)
        self.done = threading.Event()
        self.stopped = threading.Event()
        self.server = HTTPServer((LOOPBACK, 0), _handler(self))
        self.port = self.server.server_address[1]
        self.link = f"http://{LOOPBACK}:{self.port}{self.secret}"

    def verdict(self, path: str, host: str, peer: Address) -> int:
        """The HTTP status for a GET: 302 for the one awaited request."""
        if not hmac.compare_digest(path.encode(), self.secret.encode()):
            return 404
        if host not in (f"{LOOPBACK}:{self.port}", f"localhost:{self.port}"):
            return 403  # DNS rebinding: a page that made its own name point here
        if self.done.is_set():
            return 410
        if PEER_UID is not None and PEER_UID(peer, (LOOPBACK, self.port)) != os.getuid():
            return 403  # another user who read the link off the browser's command line
        return 302

    def serve(self, deadline: float) -> None:
        self.server.timeout = 0.2
        while not (self.done.is_set() or self.stopped.is_set()) and time.monotonic() < deadline:
            self.server.handle_request()

    def close(self, serving: threading.Thread) -> None:
        """Stop serving and close the port (after the loop ends, not under it)."""
        self.stopped.set()
        serving.join()
        self.server.server_close()


def _handler(link: OneTimeLink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = READ_SECONDS

        def log_message(self, *args: Any) -> None:
            pass  # the default logs the path, which is the link's secret

        def do_GET(self) -> None:
            status = link.verdict(self.path, self.headers.get("Host", ""), self.client_address)
            self.send_response(status)
            if status == 302:
                self.send_header("Location", link.url)
                link.done.set()
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()

    return Handler


def open_in_browser(url: str) -> None:
    """Open `url` with Python's webbrowser (BROWSER honoured) through a one-time link."""
    import webbrowser

    link = OneTimeLink(url)
    deadline = time.monotonic() + BROWSER_SECONDS
    server = threading.Thread(target=link.serve, args=(deadline,), daemon=True)
    server.start()
    for name in SECRET_ENV:  # the browser has no business with AWS keys
        os.environ.pop(name, None)
    try:
        if not webbrowser.open(link.link):
            raise UsageError(
                "no web browser could be started", "set BROWSER, or use --print and open the URL"
            )
        if not link.done.wait(max(0.0, deadline - time.monotonic())):
            raise UsageError(
                f"the browser did not ask for the sign-in link within {BROWSER_SECONDS} s",
                "use --print and open the URL yourself",
            )
    finally:
        link.close(server)
