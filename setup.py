"""Build the C extension subserve._engine with warnings on.

SUBSERVE_ASAN=1 builds it with AddressSanitizer (see `make test-asan`).
"""
import glob
import os
import sys

from setuptools import Extension, setup

if sys.version_info < (3, 13):
    sys.exit(
        "subserve needs CPython >= 3.13: OWN_GIL subinterpreters are unusable before it "
        f"(this is {sys.version.split()[0]}). Use scripts/find-python to locate one."
    )

cflags = ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers",
          "-Wshadow", "-Wstrict-prototypes", "-Werror=implicit-function-declaration", "-D_GNU_SOURCE"]
ldflags = ["-pthread"]
if os.environ.get("SUBSERVE_ASAN"):
    cflags += ["-fsanitize=address", "-fno-omit-frame-pointer", "-O1", "-g"]
    ldflags += ["-fsanitize=address"]
else:
    cflags += ["-O2"]

setup(
    ext_modules=[
        Extension(
            "subserve._engine",
            sources=sorted(glob.glob("ext/*.c")),
            depends=sorted(glob.glob("ext/*.h")),
            extra_compile_args=cflags,
            extra_link_args=ldflags,
        )
    ]
)
