"""Request targets (RFC 9112 3.2): split, percent-decode, and the Host field.

Runs in: worker interpreters (sans I/O); used by the WSGI environ and the
ASGI scope alike. Text is latin-1 ``str``, one code point per byte.
"""

from __future__ import annotations

from urllib.parse import unquote


def decode_path(path: str) -> str:
    """Percent-decode a path carried as latin-1, byte for byte."""
    if "%" not in path:
        return path
    return unquote(path, encoding="latin-1", errors="strict")


def split_target(target: str) -> tuple[str, str, str | None]:
    """Return (raw path, raw query, authority or None) of a request target."""
    path, _, query = target.partition("?")
    if path.startswith("/"):
        return path, query, None
    scheme_end = path.find("://")
    if scheme_end > 0:
        # absolute-form: the path starts after the authority
        start = scheme_end + 3
        slash = path.find("/", start)
        if slash < 0:
            return "/", query, path[start:]
        return path[slash:], query, path[start:slash]
    # "*" and authority-form have no path
    return "", query, None


def host_name_port(host: str, default_port: str) -> tuple[str, str]:
    """Split a Host value into (name, port), handling ``[v6]:port``."""
    if host.startswith("["):
        end = host.find("]")
        if end > 0:
            port = host[end + 2:] if host[end + 1:end + 2] == ":" else ""
            return host[1:end], port or default_port
    name, _, port = host.rpartition(":")
    if not name or not port.isdigit():
        return host, default_port
    return name, port
