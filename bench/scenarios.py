"""What is served: one app per scenario, with its interface and expected body.

Runs in: the benchmark driver (outside the server).

The driver imports the stdlib apps (bench.apps.NAME) only to know their
bodies. It never imports the Flask, Django and FastAPI apps: their pages are
checked for a marker instead, which keeps the frameworks out of the driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scenario:
    key: str  # what --scenarios and --only match: "hello", "hello-asgi", ...
    title: str
    interface: str  # "wsgi" or "asgi"
    target: str  # module:attribute, imported from bench/apps by the server
    expected: bytes = b""  # the exact body, when it is known
    contains: tuple[bytes, ...] = ()  # or pieces the body must contain
    env: dict[str, str] = field(default_factory=dict)  # for the server process
    path: str = "/"
    # Opt-in server variants (Peer.variant) that also run this scenario.
    variants: tuple[str, ...] = ()
    # The servers whose memory per extra worker the memory pass measures on
    # this app (run.py --memory-workers); none: the app is not in that pass.
    memory_servers: tuple[str, ...] = ()

    def body_problem(self, body: bytes) -> str | None:
        """Why `body` is not this scenario's answer, or None when it is."""
        if self.expected and body != self.expected:
            return f"wrong body: {body[:80]!r}, expected {self.expected[:80]!r}"
        missing = [piece for piece in self.contains if piece not in body]
        if missing:
            return f"body lacks {missing[0]!r}: {body[:80]!r}"
        return None


# The last item of the list both framework pages render from the same template.
_PAGE_ITEM = b"<li>item 19: 23.75</li>"


def all_scenarios(cpu_iterations: int) -> list[Scenario]:
    from bench.apps import big, cpu, hello, sleep

    return [
        Scenario("hello", "Hello world (WSGI)", "wsgi", "hello:app", hello.BODY),
        Scenario("hello-asgi", "Hello world (ASGI)", "asgi", "asgi_apps:hello", hello.BODY),
        Scenario("64k", "64 KiB response (WSGI)", "wsgi", "big:app", big.BODY),
        Scenario(
            "cpu",
            f"CPU-bound ~2 ms of pure Python (WSGI, {cpu_iterations} iterations)",
            "wsgi",
            "cpu:app",
            cpu.body_for(cpu_iterations),
            env={cpu.ENV_ITERS: str(cpu_iterations)},
        ),
        Scenario(
            "sleep", "I/O-bound: 10 ms sleep (WSGI, time.sleep)", "wsgi", "sleep:app", sleep.BODY
        ),
        Scenario(
            "sleep-asgi",
            "I/O-bound: 10 ms sleep (ASGI, asyncio.sleep)",
            "asgi",
            "asgi_apps:sleep",
            sleep.BODY,
        ),
        Scenario(
            "flask",
            "Flask page (Jinja template, WSGI)",
            "wsgi",
            "flask_app:app",
            contains=(b"<title>Flask page</title>", _PAGE_ITEM),
            variants=("subserve-thread", "subserve-process"),
            memory_servers=("subserve", "subserve-thread", "subserve-process", "gunicorn"),
        ),
        Scenario(
            "django",
            "Django page (template, no database, WSGI)",
            "wsgi",
            "django_app:app",
            contains=(b"<title>Django page</title>", _PAGE_ITEM),
        ),
        Scenario(
            "fastapi",
            "FastAPI hello JSON (pydantic response model, ASGI)",
            "asgi",
            "fastapi_app:app",
            contains=(b'"message":"Hello, world!"', b'"tags":["fast","api"]'),
            # subserve's auto kind is already the process kind here.
            memory_servers=("subserve", "uvicorn", "granian"),
        ),
    ]
