"""Open the listening sockets the engine will accept on.

Runs in: the main interpreter. The sockets' fds are detached and handed to the
C engine, which owns them from then on (an fd has one owner at a time).
"""

from __future__ import annotations

import os
import socket
import stat

from subserve.errors import BindError


def parse_bind(bind: str) -> tuple[int, object]:
    """'host:port', '[v6]:port', ':port' or 'unix:/path' -> (family, address)."""
    if bind.startswith("unix:"):
        return socket.AF_UNIX, bind[5:]
    host, sep, port = bind.rpartition(":")
    if not sep:
        host, port = bind, "8000"
    if not port.isdigit():
        raise BindError(f"bad --bind {bind!r}: expected HOST:PORT or unix:PATH")
    if host.startswith("[") and host.endswith("]"):
        return socket.AF_INET6, (host[1:-1], int(port))
    return socket.AF_INET, (host or "0.0.0.0", int(port))


def _remove_stale_unix_socket(path: str) -> None:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


def open_listener(bind: str, backlog: int) -> socket.socket:
    family, address = parse_bind(bind)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_UNIX:
            _remove_stale_unix_socket(str(address))
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {bind}: {exc.strerror or exc}") from exc
    return sock


def inherited_listener(fd: int) -> socket.socket:
    """Wrap an inherited listening fd (systemd, a supervisor) after checking it."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise BindError(f"--fd {fd} is not a usable socket: {exc.strerror or exc}") from exc
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.detach()
        raise BindError(f"--fd {fd} is not a listening stream socket")
    return sock


def describe(sock: socket.socket) -> str:
    """The URL a user would type for this listener."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name}"
    host, port = name[0], name[1]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"
