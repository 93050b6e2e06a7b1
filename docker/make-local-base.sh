#!/bin/sh
# Build local stand-ins for python:3.13-slim when Docker Hub is out of reach,
# on the CPython 3.13 that Debian trixie ships.
#
#   docker/make-local-base.sh [RUNTIME_TAG] [BUILDER_TAG]
#
# defaults: subserve-local/python:3.13-slim and subserve-local/python:3.13-build
#
# 1. debootstrap a minimal Debian trixie rootfs (SUITE=... overrides);
# 2. apt-get install Debian's python3.13 and python3-pip in it, and make it
#    look like the official image where the Dockerfile relies on it:
#    python3/python/pip in /usr/local/bin (symlinks to Debian's), and no
#    EXTERNALLY-MANAGED marker, since a container's system Python is the one
#    pip installs the app into (PEP 668 leaves that to image builders);
# 3. `docker import` it as RUNTIME_TAG;
# 4. add gcc, libc6-dev and python3.13-dev (Python.h: Debian keeps the
#    headers out of python3.13) in a chroot and import that as BUILDER_TAG,
#    the builder stage's base (the Dockerfile installs them with apt when its
#    base lacks them, but a container may not reach Debian's mirror).
#
# Needs root, debootstrap and a running Docker engine; NO_IMPORT=1 builds and
# checks the rootfs without Docker (it is left in $WORK/rootfs). Skips an
# image that already exists unless FORCE=1.
set -eu

RUNTIME_TAG=${1:-subserve-local/python:3.13-slim}
BUILDER_TAG=${2:-subserve-local/python:3.13-build}
WORK=${WORK:-/var/tmp/subserve-local-base}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-trixie}
PYVER=3.13
NO_IMPORT=${NO_IMPORT:-0}

# The images carry this label: an image of the same tag made otherwise (the
# earlier bases were a copy of the host's CPython build) is rebuilt.
KIND="debian-$SUITE-python$PYVER"
is_ours() {  # is_ours TAG: TAG exists and was made by this script for KIND
    [ "$(docker image inspect -f '{{ index .Config.Labels "subserve.local-base" }}' "$1" 2>/dev/null)" = "$KIND" ]
}
if [ "$NO_IMPORT" != 1 ] && [ "${FORCE:-0}" != 1 ] && is_ours "$RUNTIME_TAG" && is_ours "$BUILDER_TAG"; then
    echo "make-local-base: $RUNTIME_TAG and $BUILDER_TAG exist ($KIND; FORCE=1 rebuilds)"
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "make-local-base: needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "make-local-base: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
echo "make-local-base: Debian $SUITE + Debian's python$PYVER"

LOG=${LOG:-/var/tmp/subserve-local-base.log}
: >"$LOG"
quiet() {  # quiet CMD...: output to $LOG, shown only when CMD fails
    "$@" >>"$LOG" 2>&1 || { echo "make-local-base: failed: $*; last lines of $LOG:" >&2; tail -n 20 "$LOG" >&2; exit 1; }
}
RFS=$WORK/rootfs
in_rfs() {  # in_rfs CMD...: CMD in the rootfs, without the host's environment (its pip config, PYTHONPATH...)
    chroot "$RFS" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
# apt in the chroot needs /proc and /dev (dpkg's maintainer scripts). They
# are mounted only while apt runs, and unmounted on any exit, so that neither
# the image nor rm -rf "$WORK" ever reaches the host's.
unmount() {
    for point in "$RFS/dev" "$RFS/proc"; do
        if mountpoint -q "$point" 2>/dev/null; then umount "$point" || umount -l "$point"; fi
    done
}
apt_in_rfs() {  # apt_in_rfs PACKAGE...: install from Debian's mirror, nothing recommended
    cp -L /etc/resolv.conf "$RFS/etc/resolv.conf"
    mount -t proc proc "$RFS/proc"
    mount --bind /dev "$RFS/dev"
    quiet in_rfs apt-get update -q
    quiet in_rfs apt-get install -y -q --no-install-recommends "$@"
    quiet in_rfs apt-get clean
    unmount
    : >"$RFS/etc/resolv.conf"
}
trap unmount EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

unmount
rm -rf "$WORK"
mkdir -p "$WORK/cache"
echo "make-local-base: debootstrap $SUITE (log: $LOG)"
# ca-certificates for pip, netbase (/etc/services, /etc/protocols) and tzdata
# as in the official image.
quiet debootstrap --variant=minbase --include=ca-certificates,netbase,tzdata \
    --cache-dir="$WORK/cache" "$SUITE" "$RFS" "$MIRROR"

echo "make-local-base: apt-get install python$PYVER python3-pip in the rootfs"
apt_in_rfs "python$PYVER" python3-pip
rm -f "$RFS/usr/lib/python$PYVER/EXTERNALLY-MANAGED"
for name in python python3; do ln -sf "/usr/bin/python$PYVER" "$RFS/usr/local/bin/$name"; done
for name in pip pip3; do ln -sf /usr/bin/pip3 "$RFS/usr/local/bin/$name"; done

# Slim down like the official image does: no apt lists or downloaded .debs,
# no docs, man pages or translations.
slim() {
    rm -rf "$RFS/var/lib/apt/lists/"* "$RFS/var/cache/apt/"*.bin "$RFS/var/cache/apt/archives/"*.deb \
        "$RFS/usr/share/doc/"* "$RFS/usr/share/man/"* "$RFS/usr/share/info/"* \
        "$RFS/usr/share/locale/"* "$RFS/var/log/"*.log
}

import_rootfs() {  # import_rootfs TAG: the rootfs without the build's leftovers, as image TAG
    slim
    [ "$NO_IMPORT" = 1 ] && return
    tar -C "$RFS" --numeric-owner -c . | docker import \
        -c 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV LANG=C.UTF-8' \
        -c 'CMD ["python3"]' \
        -c "LABEL subserve.local-base=$KIND" \
        - "$1" >/dev/null
}

# Check inside the rootfs that the interpreter has the stdlib's extension
# modules and that pip may install into it, before importing it.
check_python() {
    in_rfs python3 -c '
import ssl, ctypes, sqlite3, bz2, lzma, zlib, pyexpat, readline, curses, uuid, sys, sysconfig
assert sys.version_info[:2] == tuple(map(int, sys.argv[1].split("."))), sys.version
print("make-local-base: python ok:", sys.executable, sys.version.split()[0], ssl.OPENSSL_VERSION)' "$PYVER"
    in_rfs pip --version
    # pip refuses a system Python whose stdlib directory has the marker.
    in_rfs python3 -c 'import os, sysconfig
assert not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))'
}
check_python
import_rootfs "$RUNTIME_TAG"

# Builder base: the same rootfs plus a C compiler and the Python headers.
echo "make-local-base: apt-get install gcc libc6-dev python$PYVER-dev in the builder rootfs"
apt_in_rfs gcc libc6-dev "python$PYVER-dev"
in_rfs python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("include"), "Python.h")))'
import_rootfs "$BUILDER_TAG"

if [ "$NO_IMPORT" = 1 ]; then
    echo "make-local-base: NO_IMPORT=1: the builder rootfs is in $RFS"
    exit 0
fi
rm -rf "$WORK"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -F subserve-local/python
