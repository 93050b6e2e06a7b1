"""The WSGI environ's stream objects: ``wsgi.file_wrapper`` and ``wsgi.errors``.

Runs in: worker interpreters.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any


class FileWrapper:
    """``wsgi.file_wrapper``: the handler sends these with ``os.sendfile``."""

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


class ErrorStream:
    """``wsgi.errors``: text written here goes to the error log, line by line."""

    _MAX_PENDING = 8192  # a line without "\n" is logged once this long

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._local = threading.local()  # partial lines, one per thread

    def write(self, text: str) -> int:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        pending = getattr(self._local, "pending", "") + text
        *lines, pending = pending.split("\n")
        if len(pending) >= self._MAX_PENDING:
            lines.append(pending)
            pending = ""
        self._local.pending = pending
        for line in lines:
            if line:
                self._logger.error("%s", line)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pending = getattr(self._local, "pending", "")
        if pending:
            self._local.pending = ""
            self._logger.error("%s", pending)
