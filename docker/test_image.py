"""Run the subserve image and check it behaves as a container should.

    python docker/test_image.py IMAGE        (docker/test-image.sh calls it)

1. `docker run` the image (demo app, its defaults) on a free localhost port;
2. GET / with httpx until it answers: 200 and "Hello from subserve";
3. the server process runs as a non-root user (uid from `docker exec id -u`,
   and the image's configured User);
4. Docker's HEALTHCHECK turns the container "healthy" (its interval is
   shortened for the test with --health-interval);
5. `docker stop` sends SIGTERM: subserve logs it, exits with code 0, well
   within --graceful-timeout (SUBSERVE_GRACEFUL_TIMEOUT);
6. a second container serves an app of its own from a read-only volume at
   /app, named by CMD arguments (`IMAGE slowapp:app --workers 1`): a request
   still running when `docker stop` comes completes with 200, then exit 0;
7. the containers are removed whatever happened.
Exit status 0 when every check passed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx

GRACE = 10  # --graceful-timeout given to the container, seconds


def docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(cond: bool, what: str) -> None:
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        raise SystemExit(1)


def main() -> int:
    image = sys.argv[1] if len(sys.argv) > 1 else "subserve:docker-test"
    port = free_port()
    name = f"subserve-docker-test-{os.getpid()}"
    cid = docker(
        "run", "-d", "--name", name,
        "-p", f"127.0.0.1:{port}:8000",
        "-e", "SUBSERVE_WORKERS=2",
        "-e", f"SUBSERVE_GRACEFUL_TIMEOUT={GRACE}",
        "--health-interval", "1s", "--health-start-period", "1s",
        image,
    )
    print(f"started {name} ({cid[:12]}) from {image} on 127.0.0.1:{port}", flush=True)
    try:
        url = f"http://127.0.0.1:{port}/hello"
        deadline = time.monotonic() + 30
        resp = None
        while time.monotonic() < deadline:
            try:
                resp = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        check(resp is not None, f"the container answers on {url}")
        check(resp.status_code == 200, f"GET /hello -> {resp.status_code}")
        check("Hello from subserve" in resp.text, f"body is the demo page: {resp.text.splitlines()[0]!r}")
        with httpx.Client(timeout=5) as client:  # keep-alive through the published port
            codes = [client.get(url).status_code for _ in range(20)]
        check(codes == [200] * 20, "20 requests on one keep-alive connection -> 200")

        uid = docker("exec", name, "id", "-u")
        user = docker("inspect", "--format", "{{.Config.User}}", name)
        pid1_uid = docker("exec", name, "sh", "-c", "awk '/^Uid:/{print $2}' /proc/1/status")
        pid1 = docker("exec", name, "cat", "/proc/1/cmdline").replace("\0", " ").strip()
        check(uid != "0" and pid1_uid != "0" and user not in ("", "0", "root"),
              f"non-root: image User={user!r}, uid {uid}, PID 1 uid {pid1_uid}")
        check("subserve" in pid1, f"PID 1 is the server itself: {pid1!r}")

        deadline = time.monotonic() + 30
        health = ""
        while time.monotonic() < deadline:
            health = docker("inspect", "--format", "{{.State.Health.Status}}", name)
            if health in ("healthy", "unhealthy"):
                break
            time.sleep(0.5)
        check(health == "healthy", f"HEALTHCHECK status: {health}")

        t0 = time.monotonic()
        docker("stop", "-t", str(GRACE + 20), name)
        elapsed = time.monotonic() - t0
        state = json.loads(docker("inspect", "--format", "{{json .State}}", name))
        logs = docker("logs", name, check=False) + subprocess.run(
            ["docker", "logs", name], capture_output=True, text=True).stderr
        check("SIGTERM" in logs, "subserve logged the SIGTERM it received as PID 1")
        check(state["ExitCode"] == 0 and not state["OOMKilled"],
              f"clean exit: ExitCode={state['ExitCode']} after docker stop")
        check(elapsed < GRACE, f"stopped in {elapsed:.2f} s, within --graceful-timeout {GRACE} s")
    except BaseException:
        print("--- container logs ---", file=sys.stderr)
        subprocess.run(["docker", "logs", "--tail", "50", name])
        raise
    finally:
        docker("rm", "-f", name, check=False)
    drain(image)
    print("docker-test: PASSED", flush=True)
    return 0


SLOW_APP = """\
import time


def app(environ, start_response):
    time.sleep(float(environ.get("QUERY_STRING") or 0))
    body = b"slept\\n"
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"""


def drain(image: str) -> None:
    """A request in flight when SIGTERM comes is finished before the exit."""
    port = free_port()
    name = f"subserve-docker-test-drain-{os.getpid()}"
    with tempfile.TemporaryDirectory() as appdir:
        with open(os.path.join(appdir, "slowapp.py"), "w") as f:
            f.write(SLOW_APP)
        os.chmod(appdir, 0o755)  # readable by the container's non-root user
        os.chmod(os.path.join(appdir, "slowapp.py"), 0o644)
        docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000",
               "-v", f"{appdir}:/app:ro", image,
               "slowapp:app", "--workers", "1", "--graceful-timeout", str(GRACE))
        try:
            base = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(base, timeout=2)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            result: dict = {}

            def slow_request() -> None:
                try:
                    r = httpx.get(base + "?2", timeout=GRACE + 5)
                    result.update(status=r.status_code, body=r.text)
                except Exception as exc:
                    result.update(error=repr(exc))

            t = threading.Thread(target=slow_request)
            t.start()
            time.sleep(0.5)  # the request is in the app's sleep(2)
            t0 = time.monotonic()
            docker("stop", "-t", str(GRACE + 20), name)
            elapsed = time.monotonic() - t0
            t.join()
            state = json.loads(docker("inspect", "--format", "{{json .State}}", name))
            check(result.get("status") == 200 and result.get("body") == "slept\n",
                  f"CMD args serve /app/slowapp.py; a 2 s request in flight at SIGTERM completes: {result}")
            check(state["ExitCode"] == 0, f"then a clean exit: ExitCode={state['ExitCode']}")
            check(1.0 < elapsed < GRACE, f"docker stop waited for it: {elapsed:.2f} s, within {GRACE} s")
        except BaseException:
            subprocess.run(["docker", "logs", "--tail", "50", name])
            raise
        finally:
            docker("rm", "-f", name, check=False)


if __name__ == "__main__":
    sys.exit(main())
