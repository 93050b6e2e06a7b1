"""The image's HEALTHCHECK: GET / from the server inside the container.

Runs as `python3 /usr/local/lib/subserve-healthcheck.py` (Docker's HEALTHCHECK,
in the container's environment). Slim images have no curl, hence urllib.
The URL is SUBSERVE_HEALTHCHECK_URL if set, else derived from the first
address in SUBSERVE_BIND (0.0.0.0 / :: are probed on loopback; unix:PATH is
probed over the socket). Set SUBSERVE_HEALTHCHECK_URL when the address is
given as a --bind argument instead, or to probe a path other than /.
Exit 0: healthy (any status below 400); exit 1: unhealthy.
"""

import http.client
import os
import socket
import sys
import urllib.request

TIMEOUT = float(os.environ.get("SUBSERVE_HEALTHCHECK_TIMEOUT", "2"))


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(self.unix_path)


def main() -> int:
    url = os.environ.get("SUBSERVE_HEALTHCHECK_URL")
    bind = (os.environ.get("SUBSERVE_BIND") or "127.0.0.1:8000").split()[0]
    try:
        if url:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
                status = resp.status
        elif bind.startswith("unix:"):
            conn = UnixHTTPConnection(bind[5:])
            conn.request("GET", "/", headers={"Host": "localhost"})
            status = conn.getresponse().status
            conn.close()
        else:
            host, _, port = bind.rpartition(":")
            if host in ("", "0.0.0.0", "*"):
                host = "127.0.0.1"
            elif host == "[::]":
                host = "[::1]"
            with urllib.request.urlopen(f"http://{host}:{port}/", timeout=TIMEOUT) as resp:
                status = resp.status
    except Exception as exc:  # urllib raises HTTPError for >= 400 too
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if status >= 400:
        print(f"unhealthy: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
