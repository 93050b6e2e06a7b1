"""The server's configuration: one object, built by the CLI, read by the rest.

Runs in: the main interpreter. Workers get plain values derived from it
(see ``Config.worker_settings``), never the object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Config:
    app: str
    factory: bool = False
    app_dir: str = "."
    binds: tuple[str, ...] = ("127.0.0.1:8000",)
    fds: tuple[int, ...] = ()
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    threads: int = 1
    backlog: int = 2048
    keepalive: float = 5.0
    header_timeout: float = 10.0
    client_timeout: float = 60.0
    graceful_timeout: float = 30.0
    boot_timeout: float = 120.0
    access_log: bool = True
    log_level: str = "info"
    root_path: str = ""
    url_scheme: str = "http"
    limit_request_line: int = 8190
    limit_request_fields: int = 100
    limit_request_field_size: int = 8190
    limit_request_head: int = 65536
    queue_capacity: int = 4096
    interface: str = "auto"       # auto | wsgi | asgi
    lifespan: str = "auto"        # auto | on | off (ASGI only)
    ws_max_size: int = 16 * 1024 * 1024
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    ws_per_message_deflate: bool = True

    def search_path(self, base: list[str]) -> list[str]:
        """sys.path for the workers: subserve's own location, the app dir and
        cwd, then main's. Workers must load the very same compiled engine as
        main (its registries are per shared object), even when the app dir
        holds another copy of subserve."""
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        first = [package_root, os.path.abspath(self.app_dir), os.getcwd()]
        rest = [os.path.abspath(p) if p else os.getcwd() for p in base]
        return list(dict.fromkeys(first + rest))

    def worker_settings(self) -> dict[str, object]:
        """The plain values each worker interpreter needs."""
        return {
            "app": self.app,
            "factory": self.factory,
            "threads": self.threads,
            "access_log": self.access_log,
            "log_level": self.log_level,
            "root_path": self.root_path,
            "url_scheme": self.url_scheme,
            "interface": self.interface,
            "lifespan": self.lifespan,
            "client_timeout": self.client_timeout,
            "keep_alive": self.keepalive,
            "ws_max_size": self.ws_max_size,
            "ws_ping_interval": self.ws_ping_interval,
            "ws_ping_timeout": self.ws_ping_timeout,
            "ws_per_message_deflate": self.ws_per_message_deflate,
        }
