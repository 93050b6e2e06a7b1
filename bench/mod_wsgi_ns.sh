#!/bin/sh
# Runs in: the benchmark driver, as the launcher of mod_wsgi-express.
#
# Apache refuses to serve as root, so mod_wsgi-express runs its processes as
# www-data. When the CPython they embed lives under /root (pyenv), which is
# mode 0700, they cannot import even `encodings`. Rather than change /root's
# mode on a shared machine, run the server in a private mount namespace where
# /root is an empty tmpfs that others may traverse, with the Python's top
# directory (e.g. /root/.pyenv) bound back read-only. Nothing outside the
# server's own processes sees the change.
#
# Usage: mod_wsgi_ns.sh PYTHON_PREFIX COMMAND [ARG...]
set -eu
prefix=$1
shift
if [ "${MOD_WSGI_NS_INSIDE:-}" = 1 ]; then
    # Second pass, inside the new namespace: rebuild /root.
    unset MOD_WSGI_NS_INSIDE
    top=/root/$(echo "${prefix#/root/}" | cut -d/ -f1)
    stage=/tmp/subserve-bench-pyhome
    mkdir -p "$stage"
    mount --bind "$top" "$stage"
    mount -t tmpfs -o mode=0711 tmpfs /root
    mkdir -p "$top"
    mount --bind -o ro "$stage" "$top"
    exec "$@"
fi
case "$prefix" in
/root/*)
    if [ "$(id -u)" = 0 ]; then
        MOD_WSGI_NS_INSIDE=1 exec unshare --mount --propagation private "$0" "$prefix" "$@"
    fi
    ;;
esac
exec "$@"  # readable already, or not root (then Apache keeps our uid): nothing to do
