#!/usr/bin/env bash
# Run one command (or daemon) inside a release root built by tools/release-root.sh.
#
# usage: tools/release-chroot.sh ROOT [--share DIR]... [--bind SRC DEST]... COMMAND [ARG]...
#
# The command runs in a private mount namespace: /proc, /sys, /dev and /dev/pts are bind-mounted
# into ROOT there, and every --share DIR appears at the same path inside the root as on the host
# (the cluster directory, the test's temporary files, /etc/ceph), so the host's clients and the
# root's daemons use the same ceph.conf and files.  The mounts exist only in that namespace: they
# are gone when the command, and any daemon it forked, exits; nothing is left mounted on the host.
# --bind SRC DEST shows the host's SRC at DEST inside the root (e.g. a private /etc/ceph for rbd-mirror).
# The network is the host's: a daemon in the root listens on the host's loopback.
set -euo pipefail
ROOT=${1:?usage: release-chroot.sh ROOT [--share DIR]... COMMAND [ARG]...}; shift
SHARES=()
while :; do
  case "${1:-}" in
    --share) SHARES+=("${2:?--share needs a directory}" "$2"); shift 2;;
    --bind) SHARES+=("${2:?--bind needs SRC DEST}" "${3:?--bind needs SRC DEST}"); shift 3;;
    *) break;;
  esac
done
[ $# -gt 0 ] || { echo "release-chroot.sh: no command" >&2; exit 2; }
[ -e "$ROOT/.journaltools-ready" ] || { echo "release-chroot.sh: $ROOT is not a built release root" >&2; exit 2; }
exec unshare --mount --propagation private /bin/sh -c '
  root=$1; shift
  for m in proc sys dev dev/pts; do mount --bind "/$m" "$root/$m"; done
  while [ "$1" != -- ]; do mkdir -p "$root$2"; mount --bind "$1" "$root$2"; shift 2; done
  shift
  exec chroot "$root" "$@"' release-chroot "$ROOT" "${SHARES[@]}" -- "$@"
