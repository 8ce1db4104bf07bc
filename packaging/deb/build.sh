#!/bin/sh
# Build the hostvitals-agent and hostvitals-collector Debian packages with dpkg-deb.
#
#   packaging/deb/build.sh [OUTDIR]        (default: dist/)
#
# Each package carries its own Python environment, made with Debian's /usr/bin/python3 at
# its final path (/opt/hostvitals/agent, /opt/hostvitals/collector): the venv is built in a
# staging root, then every path that names the staging root is rewritten, and the build
# fails if any file still names it. Nothing is byte-compiled here; postinst compiles and
# prerm removes the __pycache__ directories.
#
# Environment: DEB_WORK (the staging directory, default build/deb), DEB_VERSION (default: the project's version, "-1"), DEB_MAINTAINER, PACKAGES
# (default: "agent collector"), PYTHON (default: /usr/bin/python3), PIP_OPTIONS (extra pip
# options).
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/packaging/deb
OUT=${1:-$REPO/dist}
PYTHON=${PYTHON:-/usr/bin/python3}
PACKAGES=${PACKAGES:-agent collector}
WORK=${DEB_WORK:-$REPO/build/deb}
PROJECT_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/pyproject.toml" | head -n 1)
VERSION=${DEB_VERSION:-$PROJECT_VERSION-1}
ARCH=$(dpkg --print-architecture)
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PYNEXT=$("$PYTHON" -c 'import sys; print("%d.%d" % (sys.version_info[0], sys.version_info[1] + 1))')
PYTHON_DEPENDS="python3 (>= $PYVER~), python3 (<< $PYNEXT)"
MAINTAINER=${DEB_MAINTAINER:-hostvitals maintainers <maintainers@hostvitals.example>}
CHANGED=$(git -C "$REPO" log -1 --format=%cD 2>/dev/null || date -R)

umask 022
rm -rf "$WORK"
mkdir -p "$WORK/wheel" "$OUT"

# One wheel of the project; both environments install it (the agent's without the extra).
"$REPO/.venv/bin/python" -m pip wheel -q --no-deps --no-build-isolation \
    -w "$WORK/wheel" "$REPO" >"$WORK/wheel.log" 2>&1 || { cat "$WORK/wheel.log" >&2; exit 1; }
WHEEL=$(ls "$WORK"/wheel/hostvitals-*.whl)

# make_venv ROOT NAME REQUIREMENT: a venv at /opt/hostvitals/NAME inside staging ROOT.
make_venv() {
    root=$1
    target=/opt/hostvitals/$2
    stage=$root$target
    "$PYTHON" -m venv "$stage"
    # shellcheck disable=SC2086 # PIP_OPTIONS is a list of options
    "$stage/bin/python" -m pip install -q --no-compile --disable-pip-version-check \
        ${PIP_OPTIONS:-} "$3"
    "$stage/bin/python" -m pip uninstall -q -y pip setuptools
    find "$stage" -type d -name __pycache__ -prune -exec rm -rf {} +
    find "$stage" -name direct_url.json -path '*.dist-info/*' -delete
    find "$stage" -name '*.so' -type f -exec strip --strip-unneeded {} +
    # The staging prefix out of shebangs, activate scripts and pyvenv.cfg.
    grep -rlI --null -F "$root" "$stage" | xargs -0 -r sed -i "s|$root||g"
    if grep -rl -F -e "$root" -e "$REPO" "$stage"; then
        echo "build.sh: the files above still name the build directory" >&2
        exit 1
    fi
}

# libc_depends ROOT: ", libc6 (>= V)" for the newest glibc symbol version that the compiled
# modules in ROOT need (manylinux wheels link nothing else of the system), or nothing.
libc_depends() {
    newest=$(find "$1" -name '*.so' -type f -exec objdump -T {} + 2>/dev/null \
        | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
    if [ -n "$newest" ]; then
        printf ', libc6 (>= %s)' "$newest"
    fi
}

# finish ROOT PACKAGE: docs, control files, then the .deb.
finish() {
    root=$1
    package=$2
    part=${package#hostvitals-}
    doc=$root/usr/share/doc/$package
    mkdir -p "$doc" "$root/usr/share/lintian/overrides" "$root/DEBIAN"
    cp "$HERE/common/copyright" "$doc/copyright"
    printf '%s (%s) unstable; urgency=medium\n\n  * Built from the hostvitals sources.\n\n -- %s  %s\n' \
        "$package" "$VERSION" "$MAINTAINER" "$CHANGED" \
        | gzip -9n >"$doc/changelog.Debian.gz"
    # Debian's policy keeps packages out of /opt; a self-contained environment is the point.
    printf '%s: dir-or-file-in-opt [opt/hostvitals/*]\n' "$package" \
        >"$root/usr/share/lintian/overrides/$package"
    for script in postinst prerm postrm; do
        install -m 0755 "$HERE/$part/$script" "$root/DEBIAN/$script"
    done
    install -m 0644 "$HERE/$part/conffiles" "$root/DEBIAN/conffiles"
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    depends="$PYTHON_DEPENDS$(libc_depends "$root")"
    sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$size/" \
        -e "s|@MAINTAINER@|$MAINTAINER|" -e "s/@DEPENDS@/$depends/" \
        "$HERE/$part/control" >"$root/DEBIAN/control"
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
        | xargs -0 md5sum >DEBIAN/md5sums)
    chmod 0644 "$root/DEBIAN/md5sums"
    dpkg-deb --root-owner-group -Zxz -b "$root" "$OUT/${package}_${VERSION}_$ARCH.deb" >/dev/null
    echo "$OUT/${package}_${VERSION}_$ARCH.deb"
}

# packaged_unit UNIT: the unit from deploy/systemd with the packaged program's path, and
# without its TLS environment: in the package, TLS is set in the conffiles (agent.toml,
# collector.yaml), which an Environment= line would override; certificates are the
# operator's to provide.
packaged_unit() {
    sed -e 's|/usr/local/bin/|/usr/bin/|g' \
        -e '/^Environment=HOSTVITALS__TLS__/d' \
        -e '/^Environment=HOSTVITALS_AGENT_\(CA_FILE\|CLIENT_CERT\|CLIENT_KEY\)=/d' "$1"
}

build_agent() {
    root=$WORK/hostvitals-agent
    make_venv "$root" agent "$WHEEL"
    # The collector's code is in the one wheel; the agent's host needs none of it.
    rm -rf "$root"/opt/hostvitals/agent/lib/python*/site-packages/hostvitals/collector
    rm -f "$root/opt/hostvitals/agent/bin/hostvitals-collector"
    install -d "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/hostvitals"
    ln -s /opt/hostvitals/agent/bin/hostvitals-agent "$root/usr/bin/hostvitals-agent"
    packaged_unit "$REPO/deploy/systemd/hostvitals-agent.service" \
        >"$root/lib/systemd/system/hostvitals-agent.service"
    {
        echo "# Enroll this host with: hostvitals-agent enroll --collector URL --token TOKEN"
        echo "# (it sets collector_urls and token_file here and keeps the rest of this file)."
        echo "#"
        cat "$REPO/deploy/agent.example.toml"
    } >"$root/etc/hostvitals/agent.toml"
    finish "$root" hostvitals-agent
}

build_collector() {
    root=$WORK/hostvitals-collector
    if [ ! -f "$REPO/collector/static/index.html" ]; then
        echo "build.sh: the dashboard is not built: run 'make web' first" >&2
        exit 1
    fi
    make_venv "$root" collector "${WHEEL}[collector]"
    rm -f "$root/opt/hostvitals/collector/bin/hostvitals-agent"
    # PyYAML's compiled module embeds libyaml; the collector reads its configuration with
    # yaml.safe_load, which is the pure-Python loader, so the module is not needed.
    rm -f "$root"/opt/hostvitals/collector/lib/python*/site-packages/yaml/_yaml.*.so
    install -d "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/hostvitals"
    ln -s /opt/hostvitals/collector/bin/hostvitals-collector "$root/usr/bin/hostvitals-collector"
    for unit in hostvitals-collector.service hostvitals-vm@.service; do
        packaged_unit "$REPO/deploy/systemd/$unit" >"$root/lib/systemd/system/$unit"
    done
    # The raw tier on 8432 (see vm-raw.env); the state where the unit and the CLI find it.
    sed -e 's|^  url: http://127.0.0.1:8428$|  url: http://127.0.0.1:8432|' \
        -e '/^state:/,/^[a-z]/s|^  dir: null$|  dir: /var/lib/hostvitals-collector|' \
        "$REPO/config/config.yaml" >"$root/etc/hostvitals/collector.yaml"
    grep -q '^  url: http://127.0.0.1:8432$' "$root/etc/hostvitals/collector.yaml"
    grep -q '^  dir: /var/lib/hostvitals-collector$' "$root/etc/hostvitals/collector.yaml"
    for tier in raw 1m 5m 1h; do
        install -m 0644 "$HERE/collector/vm-$tier.env" "$root/etc/hostvitals/vm-$tier.env"
    done
    finish "$root" hostvitals-collector
}

for package in $PACKAGES; do
    "build_$package"
done
