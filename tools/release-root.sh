#!/usr/bin/env bash
# Build (when missing) a Debian debootstrap root with one Ceph release installed, for the
# per-release live tests (tests/releases.py).  Prints the root's path.
#
# usage: tools/release-root.sh SUITE [ROOT]
#   SUITE: trixie (Ceph 18.2, Reef) or sid (Ceph 20.2, Tentacle)
#   ROOT:  default $JOURNALTOOLS_ROOTS/SUITE, JOURNALTOOLS_ROOTS=/var/cache/journaltools/roots
# env: DEBIAN_MIRROR (default http://deb.debian.org/debian)
#
# A root is complete when ROOT/.journaltools-ready exists; an incomplete one (an interrupted
# build) is removed and built again.  The build needs root (debootstrap, chroot) and about
# 0.7-0.8 GB per root; measured here: trixie 50 s, sid 65 s (plus about 30 s to install debootstrap).
set -euo pipefail
SUITE=${1:?usage: release-root.sh SUITE [ROOT]}
ROOTS=${JOURNALTOOLS_ROOTS:-/var/cache/journaltools/roots}
ROOT=${2:-$ROOTS/$SUITE}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES="ceph-mon ceph-osd ceph-mgr ceph-common rbd-mirror python3-rados python3-rbd"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

case "$SUITE" in trixie|sid) ;; *) echo "release-root.sh: unknown suite '$SUITE' (trixie or sid)" >&2; exit 2;; esac

if [ -e "$ROOT/.journaltools-ready" ]; then echo "$ROOT"; exit 0; fi

unmount_all() {
  # everything mounted below the root, deepest first
  local m
  for m in $(awk -v r="$ROOT/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do
    $SUDO umount -l "$m" 2>/dev/null || true
  done
}
trap unmount_all EXIT

command -v debootstrap >/dev/null || {
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

start=$(date +%s)
if [ -e "$ROOT" ]; then unmount_all; $SUDO rm -rf --one-file-system "$ROOT"; fi
$SUDO mkdir -p "$(dirname "$ROOT")"
echo "release-root: debootstrap $SUITE into $ROOT" >&2
$SUDO debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 || {
  tail -n 20 "$ROOT.debootstrap.log" >&2; exit 1; }
# no service starts inside the root
printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$ROOT/usr/sbin/policy-rc.d" >/dev/null
$SUDO chmod 755 "$ROOT/usr/sbin/policy-rc.d"
# sid's Release file can be past its Valid-Until date
echo 'Acquire::Check-Valid-Until "false";' | $SUDO tee "$ROOT/etc/apt/apt.conf.d/99journaltools" >/dev/null
for m in proc sys dev dev/pts; do $SUDO mount --bind "/$m" "$ROOT/$m"; done
echo "release-root: installing $PACKAGES" >&2
$SUDO chroot "$ROOT" apt-get update -qq
$SUDO chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  $PACKAGES >"$ROOT.apt.log" 2>&1 || { tail -n 20 "$ROOT.apt.log" >&2; exit 1; }
$SUDO chroot "$ROOT" apt-get clean
unmount_all
$SUDO chroot "$ROOT" ceph --version >&2
$SUDO touch "$ROOT/.journaltools-ready"
echo "release-root: $SUITE ready in $(( $(date +%s) - start )) s" >&2
echo "$ROOT"
