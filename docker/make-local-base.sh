#!/bin/sh
# Build local stand-ins for python:3.13-slim when Docker Hub is out of reach.
#
#   docker/make-local-base.sh [RUNTIME_TAG] [BUILDER_TAG]
#
# defaults: subserve-local/python:3.13-slim and subserve-local/python:3.13-build
#
# 1. debootstrap a minimal Debian rootfs of this host's release (minbase plus
#    the shared libraries CPython's extension modules link against);
# 2. copy a CPython >= 3.13 built on this same release (scripts/find-python
#    finds it; PYTHON=... overrides) into /usr/local of that rootfs, with
#    its build prefix rewritten to /usr/local, and without the test suite,
#    tkinter/idle and pip's site-packages leftovers, like the official image;
# 3. `docker import` it as RUNTIME_TAG;
# 4. add gcc + libc6-dev in a chroot and import that as BUILDER_TAG, the
#    builder stage's base (the Dockerfile installs them with apt when its
#    base lacks gcc, but a container may not reach Debian's mirror).
#
# Needs root, debootstrap and a running Docker engine. Skips an image that
# already exists unless FORCE=1.
set -eu

RUNTIME_TAG=${1:-subserve-local/python:3.13-slim}
BUILDER_TAG=${2:-subserve-local/python:3.13-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/var/tmp/subserve-local-base}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$RUNTIME_TAG" >/dev/null 2>&1 \
        && docker image inspect "$BUILDER_TAG" >/dev/null 2>&1; then
    echo "make-local-base: $RUNTIME_TAG and $BUILDER_TAG exist (FORCE=1 rebuilds)"
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "make-local-base: needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "make-local-base: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

. /etc/os-release
SUITE=${SUITE:-$VERSION_CODENAME}
PYTHON=${PYTHON:-$("$ROOT/scripts/find-python")}
PREFIX=$("$PYTHON" -c 'import sys; print(sys.prefix)')
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
echo "make-local-base: Debian $SUITE + CPython $PYVER from $PREFIX"

# The libraries lib-dynload's modules need (ssl, ctypes, sqlite3, bz2, lzma,
# readline, curses, zlib, pyexpat, uuid), CA certificates for pip, and
# netbase (/etc/services, /etc/protocols) as in the official image.
LIBS=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libtinfo6,zlib1g,libexpat1,libuuid1,libgdbm6,libgdbm-compat4

LOG=${LOG:-/var/tmp/subserve-local-base.log}
: >"$LOG"
quiet() {  # quiet CMD...: output to $LOG, shown only when CMD fails
    "$@" >>"$LOG" 2>&1 || { echo "make-local-base: failed: $*; last lines of $LOG:" >&2; tail -n 20 "$LOG" >&2; exit 1; }
}

rm -rf "$WORK"
mkdir -p "$WORK/cache"
RFS=$WORK/rootfs
echo "make-local-base: debootstrap $SUITE (log: $LOG)"
quiet debootstrap --variant=minbase --include="$LIBS" --cache-dir="$WORK/cache" "$SUITE" "$RFS" "$MIRROR"

# CPython: the same layout as the official image (/usr/local/bin/python3, ...).
# Bytecode caches are kept (valid: tar keeps source mtimes), so workers
# do not recompile the stdlib at every start as a non-root user.
mkdir -p "$RFS/usr/local"
tar -C "$PREFIX" -c \
    --exclude="./lib/python$PYVER/test" --exclude="./lib/python$PYVER/idlelib" \
    --exclude="./lib/python$PYVER/tkinter" --exclude="./lib/python$PYVER/turtledemo" \
    --exclude="./lib/python$PYVER/lib-dynload/_tkinter.*" --exclude="./bin/idle*" \
    --exclude="./lib/python$PYVER/site-packages/*.pth" --exclude="./lib/libpython*.a" \
    --exclude="./lib/python$PYVER/config-*/libpython*.a" \
    . | tar -C "$RFS/usr/local" -x
# The build prefix is baked into sysconfig data, Makefile, pkg-config files and
# script shebangs: point them at /usr/local (text files only; the ELF rpath
# to the old prefix is harmless: it does not exist, ld.so.cache finds libpython).
grep -rlI -- "$PREFIX" "$RFS/usr/local" | while read -r f; do
    sed -i "s|$PREFIX|/usr/local|g" "$f"
done
for name in python python3; do ln -sf "python$PYVER" "$RFS/usr/local/bin/$name"; done
for name in pip pip3; do [ -e "$RFS/usr/local/bin/$name" ] || ln -sf "pip$PYVER" "$RFS/usr/local/bin/$name"; done
chroot "$RFS" /sbin/ldconfig

# Slim down like the official image does: debug symbols stripped, no apt
# lists or downloaded .debs, no docs, man pages or translations.
find "$RFS/usr/local" -type f \( -name '*.so' -o -name '*.so.*' -o -path '*/bin/python3*' \) \
    -exec strip --strip-unneeded {} + 2>/dev/null || true
slim() {
    rm -rf "$RFS/var/lib/apt/lists/"* "$RFS/var/cache/apt/"*.bin "$RFS/var/cache/apt/archives/"*.deb \
        "$RFS/usr/share/doc/"* "$RFS/usr/share/man/"* "$RFS/usr/share/info/"* \
        "$RFS/usr/share/locale/"* "$RFS/var/log/"*.log
}
slim

import_rootfs() {  # import_rootfs TAG
    tar -C "$RFS" --numeric-owner -c . | docker import \
        -c 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV LANG=C.UTF-8' \
        -c 'CMD ["python3"]' \
        - "$1"
}

# Check inside the rootfs that the interpreter works before importing it.
chroot "$RFS" /usr/local/bin/python3 -c '
import ssl, ctypes, sqlite3, bz2, lzma, zlib, pyexpat, readline, curses, uuid, sysconfig
assert sysconfig.get_config_var("prefix") == "/usr/local", sysconfig.get_config_var("prefix")
print("python ok:", __import__("sys").version.split()[0], ssl.OPENSSL_VERSION)'
chroot "$RFS" /usr/local/bin/pip --version
import_rootfs "$RUNTIME_TAG" >/dev/null

# Builder base: the same rootfs plus a C compiler.
cp /etc/resolv.conf "$RFS/etc/resolv.conf"
echo "make-local-base: apt-get install gcc libc6-dev in the builder rootfs"
quiet chroot "$RFS" apt-get update -q
quiet chroot "$RFS" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev
quiet chroot "$RFS" apt-get clean
slim
: > "$RFS/etc/resolv.conf"
import_rootfs "$BUILDER_TAG" >/dev/null

rm -rf "$WORK"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -F subserve-local/python
