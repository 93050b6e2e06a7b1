"""The package's layout rules, checked on its source with ast (nothing is
imported). Numbered as they are checked in ``violations``:

1. main-side modules (__main__, cli, config, supervisor/) do not import
   worker-side ones (worker/, wsgi/, asgi/, demo), directly or through others;
2. http/ is sans-I/O: the stdlib (no socket, asyncio, selectors, ssl),
   subserve.http and subserve.errors only;
3. wsgi/ and asgi/ do not import each other;
4. handoff/ imports the stdlib, subserve._engine and itself only;
5. no module imports a private (``_x``) name of another; subserve._engine is
   private by its name only;
6. every module's docstring says where it runs (``Runs in:``).

Imports inside functions count. The tests' own rules follow, then the
checker's self-tests on small synthetic trees.

Runs in: the test process.
"""

from __future__ import annotations

import ast
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE = "subserve._engine"  # the C extension: no source here, and private by name only
MAIN_SIDE = ("subserve.__main__", "subserve.cli", "subserve.config", "subserve.supervisor")
WORKER_SIDE = ("subserve.worker", "subserve.wsgi", "subserve.asgi", "subserve.demo")
DOES_IO = ("socket", "_socket", "asyncio", "selectors", "select", "ssl", "_ssl", ENGINE)
# On a line of its own, or as a sentence after a one-line summary (subserve/__main__.py).
RUNS_IN = re.compile(r"(^|\. )Runs in: ", re.MULTILINE)


def under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def stdlib(name: str) -> bool:
    return name.partition(".")[0] in sys.stdlib_module_names


def private(target: str, imported: str) -> bool:
    """A private subserve name: ``_x`` imported from a module, or a ``_x`` module."""
    modules = [] if target == ENGINE else target.split(".")[1:]
    return any(p.startswith("_") and not p.endswith("__") for p in [*modules, imported])


def load(root: Path) -> dict[str, tuple[ast.Module, str]]:
    """Every module under ``root`` by dotted name (``root`` is its first part): (tree, package)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        modules[name] = (ast.parse(path.read_text(), str(path)),
                         name if is_package else name.rpartition(".")[0])
    return modules


def imports(tree: ast.Module, package: str, known: set[str]) -> Iterator[tuple[str, str]]:
    """(module, name imported from it or "") for every import; ast.walk finds the
    lazy ones inside functions too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, "") for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub, "") if sub in known else (base, alias.name)


def reached(start: str, edges: dict[str, list[tuple[str, str]]]) -> dict[str, str]:
    """Each package module importing ``start`` runs -> the module that imports it
    (importing a.b.c runs a and a.b first)."""
    via, todo = {start: ""}, [start]
    while todo:
        current = todo.pop()
        for target, _ in edges[current]:
            parts = target.split(".")
            for dep in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
                if dep in edges and dep not in via:
                    via[dep] = current
                    todo.append(dep)
    return via


def violations(root: Path) -> list[str]:
    """What breaks the layout rules in the package at ``root`` (a directory named subserve)."""
    modules = load(root)
    known = set(modules) | {ENGINE}
    edges = {name: list(imports(tree, package, known)) for name, (tree, package) in modules.items()}
    found = []
    for name, (tree, _) in modules.items():
        if not RUNS_IN.search(ast.get_docstring(tree) or ""):  # 6
            found.append(f"{name}: its docstring does not say 'Runs in:'")
        for target, imported in edges[name]:
            what = f"{name} imports {target}" + (f".{imported}" if imported else "")
            if under(name, "subserve.http") and (under(target, *DOES_IO) or not (  # 2
                    stdlib(target) or under(target, "subserve.http", "subserve.errors"))):
                found.append(f"{what}: subserve.http is sans-I/O (stdlib, itself, errors)")
            if (under(name, "subserve.wsgi") and under(target, "subserve.asgi")  # 3
                    or under(name, "subserve.asgi") and under(target, "subserve.wsgi")):
                found.append(f"{what}: wsgi and asgi do not import each other")
            if under(name, "subserve.handoff") and not (  # 4
                    stdlib(target) or target == ENGINE or under(target, "subserve.handoff")):
                found.append(f"{what}: handoff imports only the stdlib, _engine and itself")
            if under(target, "subserve") and private(target, imported):  # 5
                found.append(f"{what}: a private name of another module")
    for start in (name for name in modules if under(name, *MAIN_SIDE)):  # 1, through any chain
        via = reached(start, edges)
        for dep in (d for d in via if under(d, *WORKER_SIDE)):
            chain = [dep]
            while via[chain[-1]]:
                chain.append(via[chain[-1]])
            found.append(f"{start} imports worker-side {dep} (" + " <- ".join(chain) + ")")
    return found


def test_the_package_keeps_its_layout() -> None:
    assert violations(REPO / "subserve") == []


def test_tests_import_helpers_not_each_other_nor_private_names() -> None:
    found = []
    for name, (tree, package) in load(REPO / "tests").items():
        for target, imported in imports(tree, package, {ENGINE}):
            if any(p.startswith("test_") or p == "conftest" for p in target.split(".")):
                found.append(f"{name} imports the test module {target}")
            if under(target, "subserve") and private(target, imported):
                found.append(f"{name} imports the private {target}.{imported}")
    assert found == []


def test_unit_tests_cannot_start_a_subprocess_or_listen() -> None:
    with pytest.raises(AssertionError, match="tests/integration"):
        subprocess.run(["true"])
    with socket.socket() as sock, pytest.raises(AssertionError, match="tests/integration"):
        sock.listen()


# -- the checker itself: each rule flags its violation -----------------------------


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A package named subserve. A file that starts with neither a docstring nor
    a comment gets a docstring that says where it runs."""
    root = tmp_path / "subserve"
    for rel, source in {"__init__.py": "", **files}.items():
        path = root / rel
        for package in [path.parent, *path.parent.parents]:
            if package == tmp_path:
                break
            package.mkdir(parents=True, exist_ok=True)
            (package / "__init__.py").touch()
        if not source.startswith(('"""', "#")):
            source = '"""Runs in: tests."""\n' + source
        path.write_text(source)
    for init in root.rglob("__init__.py"):
        if not init.read_text():
            init.write_text('"""A package.\n\nRuns in: tests.\n"""\n')
    return root


CLEAN = {  # every rule kept, each in a way that comes close to breaking it
    "cli.py": ("import click\nfrom subserve import _engine, config\n"
               "def main():\n    from subserve.supervisor import server\n"),
    "config.py": "from subserve.handoff.settings import Settings\n",
    "supervisor/server.py": ("import os\nfrom subserve.handoff import item\n"
                             "from . import listeners\n"),
    "supervisor/listeners.py": "import socket\n",
    "handoff/item.py": ("from subserve import _engine\n"
                        "from subserve.handoff.settings import Settings\n"),
    "handoff/settings.py": "import dataclasses\n",
    "http/wire.py": "import re\nimport time\nfrom subserve.errors import BadBody\n",
    "http/body.py": "from subserve.http.wire import CRLF\nfrom .wire import CRLF\n",
    "errors.py": "class BadBody(Exception): ...\n",
    "log.py": '"""Logging.\n\nRuns in: main and worker interpreters.\n"""\n',
    "__main__.py": '"""`python -m subserve`. Runs in: the main interpreter."""\n',
    "wsgi/handler.py": ("import _socket\nfrom subserve._engine import send_all\n"
                        "from subserve.http import body\n"),
    "asgi/cycle.py": ("import asyncio\nimport wsproto\n"
                      "from subserve.worker.accesslog import AccessLog\n"),
    "worker/accesslog.py": "from subserve.log import prefix\n",
    "worker/bootstrap.py": ("def run():\n    from subserve.wsgi import handler\n"
                            "    from subserve.asgi import cycle\n"),
}


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    assert violations(tree(tmp_path, CLEAN)) == []


def case(id: str, expected: str, files: dict[str, str]) -> object:
    """A violation: ``files`` on top of CLEAN make ``violations`` report ``expected``."""
    return pytest.param(files, expected, id=id)


@pytest.mark.parametrize(("files", "expected"), [
    # 1: main side -> worker side, directly, lazily, through another module
    case("main-imports-worker", "subserve.cli imports worker-side subserve.wsgi.handler",
         {"cli.py": "import subserve.wsgi.handler\n"}),
    case("main-imports-worker-lazily",
         "subserve.supervisor.server imports worker-side subserve.asgi.cycle",
         {"supervisor/server.py": "def f():\n    from subserve.asgi import cycle\n"}),
    case("main-reaches-worker-through-another", "subserve.config imports worker-side "
         "subserve.demo (subserve.demo <- subserve.log <- subserve.config)",
         {"config.py": "from subserve import log\n", "log.py": "import subserve.demo\n",
          "demo.py": ""}),
    case("__main__-imports-worker", "subserve.__main__ imports worker-side subserve.worker",
         {"__main__.py": "from subserve.worker import accesslog\n"}),
    # 2: http/ is sans-I/O
    case("http-imports-socket", "subserve.http.wire imports socket: subserve.http is sans-I/O",
         {"http/wire.py": "import socket\n"}),
    case("http-imports-engine", "imports subserve._engine: subserve.http is sans-I/O",
         {"http/body.py": "from subserve import _engine\n"}),
    case("http-imports-an-asyncio-module", "imports asyncio.events: subserve.http is sans-I/O",
         {"http/body.py": "import asyncio.events\n"}),
    case("http-imports-third-party", "imports h11: subserve.http",
         {"http/body.py": "import h11\n"}),
    case("http-imports-subserve-log", "imports subserve.log: subserve.http",
         {"http/body.py": "from subserve import log\n"}),
    # 3: wsgi/ and asgi/ apart
    case("wsgi-imports-asgi", "subserve.wsgi.handler imports subserve.asgi.cycle.BLOCK: wsgi",
         {"wsgi/handler.py": "from subserve.asgi.cycle import BLOCK\n"}),
    case("asgi-imports-wsgi-lazily", "subserve.asgi.cycle imports subserve.wsgi.environ: wsgi",
         {"asgi/cycle.py": "def f():\n    import subserve.wsgi.environ\n"}),
    # 4: handoff/ imports the stdlib, _engine and itself
    case("handoff-imports-subserve-log", "imports subserve.log: handoff imports only",
         {"handoff/item.py": "from subserve import log\n"}),
    case("handoff-imports-third-party", "imports click: handoff imports only",
         {"handoff/settings.py": "import click\n"}),
    # 5: private names
    case("private-name", "subserve.asgi.websocket imports subserve.asgi.cycle._DONE: a private",
         {"asgi/websocket.py": "from subserve.asgi.cycle import _DONE, BLOCK\n"}),
    case("private-name-relative", "imports subserve.asgi.cycle._DONE: a private",
         {"asgi/websocket.py": "from .cycle import _DONE\n"}),
    case("private-module", "imports subserve._helpers: a private",
         {"log.py": "from subserve import _helpers\n", "_helpers.py": ""}),
    case("private-name-of-the-engine", "imports subserve._engine._internal: a private",
         {"log.py": "from subserve._engine import _internal\n"}),
    # 6: Runs in
    case("docstring-without-runs-in", "subserve.log: its docstring does not say",
         {"log.py": '"""Logging for main and workers."""\n'}),
    case("no-docstring", "subserve.log: its docstring does not say",
         {"log.py": "# none\nx = 1\n"}),
    case("runs-in-mid-sentence", "subserve.log: its docstring does not say",
         {"log.py": '"""Logging, which Runs in: nowhere."""\n'}),
    case("one-line-docstring-without-runs-in", "subserve.__main__: its docstring does not say",
         {"__main__.py": '"""`python -m subserve`: the command line."""\n'}),
])
def test_each_rule_flags_its_violation(tmp_path: Path, files: dict[str, str],
                                       expected: str) -> None:
    found = violations(tree(tmp_path, {**CLEAN, **files}))
    assert any(expected in line for line in found), found
