"""Install the requirements of pyproject.toml extras one by one, tolerating failures.

    .venv/bin/python scripts/install-optional.py EXTRA...

For a CPython newer than some packages' wheels (Debian forky's python3.15, say):
a requirement that cannot be installed (no wheel, and its sdist does not build
here) is listed instead of failing the setup, because the tests that need it
already skip without it (pytest.importorskip). Run with the venv's python:
it installs into sys.prefix. The requirements left out are printed and written
to <venv>/optional-missing.txt (empty when none), and pip's output to
<venv>/install-optional.log. Exit status: 0, whatever was left out.
"""
import subprocess
import sys
import tomllib
from pathlib import Path

extras = sys.argv[1:]
if not extras:
    sys.exit(__doc__)
with open("pyproject.toml", "rb") as f:
    optional = tomllib.load(f)["project"]["optional-dependencies"]
venv = Path(sys.prefix)
log_path = venv / "install-optional.log"
missing = []
with open(log_path, "w") as log:
    for extra in extras:
        for req in optional[extra]:
            log.write(f"### pip install {req}\n")
            log.flush()
            done = subprocess.run([sys.executable, "-m", "pip", "install", req],
                                  stdout=log, stderr=subprocess.STDOUT)
            if done.returncode:
                missing.append(req)
(venv / "optional-missing.txt").write_text("".join(r + "\n" for r in missing))
if missing:
    print(f"install-optional: NOT INSTALLED on Python {sys.version.split()[0]}: "
          f"{', '.join(missing)} (the tests that need them skip; pip's output: {log_path})")
else:
    print(f"install-optional: every requirement of {', '.join(extras)} installed")
