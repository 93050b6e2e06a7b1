"""Type stub of subserve._engine, the C engine (ext/module.c and ext/py_*.c).

Loaded in the main interpreter and in every worker interpreter. Queues,
engines and pools are process-wide C objects; each interpreter holds
handles on them (``Queue``, ``Engine``, ``Pool``), each a counted reference,
and passes their ``.id`` (an int, never reused) to other interpreters, which
bind handles of their own. See docs/internals.md for the queue item, the
head record and the lifetimes.
"""

from collections.abc import Buffer
from typing import final

# (fd, flags, content_length, record, data); fd == STOP_FD is a stop item.
Item = tuple[int, int, int, bytes, bytes]

F_KEEP_ALIVE: int
F_CHUNKED: int
F_EXPECT_CONTINUE: int
F_UPGRADE: int
F_HTTP11: int
STOP_FD: int

WORKER_STARTING: int
WORKER_READY: int
WORKER_FAILED: int
WORKER_EXITED: int

DEFAULT_KEEPALIVE: float
DEFAULT_HEADER_TIMEOUT: float
DEFAULT_CLIENT_TIMEOUT: float
DEFAULT_MAX_LINE: int
DEFAULT_MAX_HEAD: int
DEFAULT_MAX_FIELDS: int
DEFAULT_MAX_FIELD: int
MAX_FIELDS_CAP: int
IMAGE_ID: int  # tells this copy of the shared object from another

class EngineError(RuntimeError):
    """An object is unknown, closed or misused; the message names it ("engine 3 is closed")."""
class QueueClosed(EngineError): ...
class QueueEmpty(EngineError): ...
class QueueFull(EngineError): ...

# -- the request queue ------------------------------------------------------
@final
class Queue:
    """A handle on a request queue; made by queue_create or queue_bind only."""

    @property
    def id(self) -> int: ...
    def put(self, fd: int, flags: int, content_length: int, record: Buffer, data: Buffer,
            block: bool = True) -> None:
        """Waits (GIL released) while full; QueueFull without block."""
    def put_stop(self, count: int, /) -> None:
        """Put count stop items: each ends one worker thread."""
    def get(self, timeout: float | None = None, *, group: int = 0) -> Item:
        """Block (GIL released) until an item arrives; QueueEmpty on timeout.

        group: the caller's interpreter index; a put wakes a waiter of the
        group with the fewest threads running.
        """
    def get_nowait(self, *, group: int = 0) -> Item: ...
    def __len__(self) -> int: ...
    def wakeup_fd(self) -> int:
        """An eventfd signalled when a put finds the queue empty, for event loops."""
    def destroy(self) -> None:
        """Close: waiters wake with QueueClosed, the id no longer binds, every
        later call raises QueueClosed."""

def queue_create(capacity: int, groups: int = 1) -> Queue:
    """groups: consumer groups, one per worker interpreter (see Queue.get)."""
def queue_bind(qid: int, /) -> Queue: ...

# -- the I/O engine -------------------------------------------------------------
@final
class Engine:
    """A handle on an I/O engine; made by engine_create or engine_bind only."""

    @property
    def id(self) -> int: ...
    @property
    def draining(self) -> bool:
        """True once a graceful stop began: answer with Connection: close."""
    def start(self) -> None: ...
    def drain(self) -> None:
        """Close the listeners and idle connections; drain_fd turns readable."""
    def limit_accepting(self, busy: int, /) -> None:
        """Stop accepting while busy connections are owned by workers (0: no limit)."""
    def wait_idle(self, timeout: float, /) -> int:
        """Wait (GIL released); return how many connections workers still own."""
    def stats(self) -> dict[str, int]:
        """accepted, requests, rejected, busy, open; and out of fds in accept:
        fd_limit_episodes, fd_limit_closed, fd_limit_errno, accept_paused."""
    def destroy(self) -> None:
        """Join the I/O thread (GIL released), close listeners and the
        connections the engine owns; every later call raises EngineError."""
    def drain_fd(self) -> int: ...
    # The verbs a worker hands a connection back with (GIL held: none waits).
    def close_connection(self, fd: int, /) -> None: ...
    def park(self, fd: int, /) -> None:
        """An idle keep-alive connection waits in the engine for its next request."""
    def next_request(self, fd: int, data: Buffer, /) -> Item | None:
        """Bytes read after a response: the next item to serve now, or None when
        the engine took over a partial head or answered a bad one."""

def engine_create(listen_fds: list[int], queue_id: int, keepalive: float = 5.0,
                  header_timeout: float = 10.0, client_timeout: float = 60.0,
                  max_line: int = 8190, max_head: int = 65536, max_fields: int = 100,
                  max_field: int = 8190, max_body: int = 0) -> Engine:
    """max_body: a larger Content-Length is answered 413 and closed (0: no limit)."""
def engine_bind(eid: int, /) -> Engine: ...

# -- the interpreter pool ---------------------------------------------------------
@final
class Pool:
    """A handle on a pool of worker interpreters; made by pool_start or pool_bind only."""

    @property
    def id(self) -> int: ...
    def report(self, index: int, ok: bool, message: str, /) -> None: ...
    def wait(self, timeout: float, /) -> list[tuple[int, bool, str | None]]: ...
    def join(self, timeout: float, /) -> int:
        """Wait (GIL released); return how many worker threads still run."""
    def destroy(self) -> None:
        """EngineError while a worker thread is not joined."""
    def __len__(self) -> int: ...

def pool_start(program: str, n: int, /, *, main_interpreter: bool = False) -> Pool:
    """n threads, each running program with __pool_id__ and __worker_index__
    set: in a new OWN_GIL interpreter's __main__, or with main_interpreter in
    a fresh namespace of the main interpreter (the thread worker kind)."""
def pool_bind(pid: int, /) -> Pool: ...

# -- socket output ------------------------------------------------------------
def send_all(fd: int, /, *buffers: Buffer) -> None:
    """Gather-send every byte (the rest GIL released); OSError when the client is gone."""

def interrupt_thread(ident: int, exc: type[BaseException] | None, /) -> int:
    """Raise ``exc`` in this interpreter's thread ``ident`` at its next bytecode
    (None: clear what is pending); the number of threads changed (0 or 1)."""

# -- the parser (for tests and the corpus) ------------------------------------------
def parse_head(data: Buffer, *, max_line: int = 8190, max_head: int = 65536,
               max_fields: int = 100, max_field: int = 8190
               ) -> int | tuple[int, bytes, bytes, int, int, int, list[tuple[bytes, bytes]]]: ...
