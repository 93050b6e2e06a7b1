"""The open-files limit: raised at start-up, and what running into it means.

Runs in: the main interpreter (before any engine exists: an engine sizes its
connection table by the soft limit when it is created).

Most servers raise the soft ``RLIMIT_NOFILE`` to the hard one (Go's runtime
does it for every program), since the soft default of 1024 is far below
what a server holding keep-alive connections needs. ``MAX_NOFILE`` caps the
raise: the engine's table holds a pointer per possible fd.
"""

from __future__ import annotations

import errno
import resource

MAX_NOFILE = 1 << 20


def raise_nofile() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard one (at most MAX_NOFILE);
    return ``(before, after)``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = MAX_NOFILE if hard == resource.RLIM_INFINITY else min(hard, MAX_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, target
    return soft, soft


def describe_nofile(before: int, after: int) -> str:
    """The start-up line's words for the limit."""
    if after == resource.RLIM_INFINITY:
        return "open files limit: unlimited"
    if after > before:
        return f"open files limit: {after} (raised from {before})"
    return f"open files limit: {after}"


def soft_nofile() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def describe_fd_limit(stats: dict[str, int]) -> str:
    """One warning for a new episode of running out of fds in accept
    (``Engine.stats()``): what happened and what the engine does about it."""
    code = stats["fd_limit_errno"]
    name = errno.errorcode.get(code, str(code))
    limit = soft_nofile()
    cause = ("out of file descriptors" if code in (errno.EMFILE, errno.ENFILE)
             else "out of kernel memory for sockets")
    return (f"cannot accept connections: {name} ({cause}; {stats['open']} connections open, "
            f"open files limit {limit}): idle keep-alive connections are closed to make room "
            f"({stats['fd_limit_closed']} so far), and with none left accepting waits for a "
            f"free fd; raise the limit (ulimit -n) or lower --keep-alive")
