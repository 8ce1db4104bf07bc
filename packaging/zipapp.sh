#!/bin/sh
# A single-file agent for hosts where packages are not an option: hostvitals-agent.pyz, a
# zipapp made with shiv that holds the agent and its dependencies.
#
#   packaging/zipapp.sh [OUTDIR]        (default: dist/)
#
# psutil and msgpack are compiled: the file runs only on this architecture and with this
# Python minor version (the one PYTHON names, default /usr/bin/python3). On its first start it
# unpacks itself under $SHIV_ROOT (default ~/.shiv); see docs/agent.md for its unit.
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$REPO/dist}
PYTHON=${PYTHON:-/usr/bin/python3}
WORK=${ZIPAPP_WORK:-$REPO/build/zipapp}

rm -rf "$WORK"
mkdir -p "$WORK" "$OUT"
"$REPO/.venv/bin/python" -m pip wheel -q --no-deps --no-build-isolation \
    -w "$WORK" "$REPO" >"$WORK/wheel.log" 2>&1 || { cat "$WORK/wheel.log" >&2; exit 1; }
# shiv installs the dependencies with the pip of the Python it runs on: that must be the
# target's version, so that the compiled ones match it.
want=$("$PYTHON" -c 'import sys; print(sys.version_info[:2])')
have=$("$REPO/.venv/bin/python" -c 'import sys; print(sys.version_info[:2])')
if [ "$want" != "$have" ]; then
    echo "zipapp.sh: .venv runs Python $have, the target $PYTHON is $want" >&2
    exit 1
fi
"$REPO/.venv/bin/shiv" --quiet --reproducible --compressed \
    --python "$PYTHON" --console-script hostvitals-agent \
    --output-file "$OUT/hostvitals-agent.pyz" "$WORK"/hostvitals-*.whl
echo "$OUT/hostvitals-agent.pyz"
