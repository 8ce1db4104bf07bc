#!/bin/sh
# A throwaway Debian root for the packaging test: a minimal bookworm (debootstrap) with what
# the packages depend on, cached under var/packaging/ so that later runs only copy it.
#   packaging/debroot.sh DEST   copy the cached root to DEST (building the cache first)
set -eu

cd "$(dirname "$0")/.."
SUITE=${DEBROOT_SUITE:-bookworm}
MIRROR=${DEBROOT_MIRROR:-http://deb.debian.org/debian}
CACHE=var/packaging/root-$SUITE
DEST=${1:?usage: debroot.sh DEST}

if [ ! -e "$CACHE/.complete" ]; then
    rm -rf "$CACHE"
    mkdir -p "$(dirname "$CACHE")"
    echo "debootstrap $SUITE into $CACHE (once; later runs copy it)" >&2
    debootstrap --variant=minbase \
        --include=python3,adduser,victoria-metrics,ca-certificates \
        "$SUITE" "$CACHE" "$MIRROR" >"$CACHE.log" 2>&1 || {
        tail -n 20 "$CACHE.log" >&2
        exit 1
    }
    rm -rf "$CACHE/var/cache/apt/archives/"*.deb
    touch "$CACHE/.complete"
fi
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
cp -a "$CACHE" "$DEST"
rm -f "$DEST/.complete"
