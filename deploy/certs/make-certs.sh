#!/usr/bin/env bash
# Make a private CA, a collector (server) certificate and agent (client) certificates with
# openssl, for tests and for trying mTLS out. Nothing made here is ever committed.
#
#   deploy/certs/make-certs.sh [OUT_DIR] [AGENT_HOST...]
#
# OUT_DIR (default var/certs) receives:
#   ca.pem, ca.key                   the CA (keep ca.key offline in a real deployment)
#   server.pem, server.key           the collector's certificate: localhost, 127.0.0.1, ::1
#                                    and the names in $SERVER_NAMES (space-separated)
#   agent-HOST.pem, agent-HOST.key   one client certificate per AGENT_HOST (default: this
#                                    machine's host name); its CN and DNS SAN are the host
# An existing CA in OUT_DIR is reused, so more agents can be added later. Keys are mode 0600.
# $DAYS sets the validity (default 825).
set -euo pipefail

out=${1:-var/certs}
shift || true
hosts=("$@")
if [ ${#hosts[@]} -eq 0 ]; then
    hosts=("$(hostname)")
fi
days=${DAYS:-825}
command -v openssl >/dev/null || { echo "make-certs: openssl is not installed" >&2; exit 1; }

mkdir -p "$out"
umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -s "$out/ca.pem" ] || [ ! -s "$out/ca.key" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
        -days "$days" -subj "/CN=hostvitals test CA $(date +%s)-$RANDOM" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$out/ca.key" -out "$out/ca.pem" 2>/dev/null
fi

# issue NAME CN SAN USAGE: NAME.pem and NAME.key signed by the CA.
issue() {
    local name=$1 cn=$2 san=$3 usage=$4
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
        -subj "/CN=$cn" -keyout "$work/$name.key" -out "$work/$name.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=$usage" "subjectAltName=$san" > "$work/$name.ext"
    openssl x509 -req -in "$work/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" \
        -CAcreateserial -CAserial "$work/ca.srl" -days "$days" -sha256 \
        -extfile "$work/$name.ext" -out "$work/$name.pem" 2>/dev/null
    # Key first, then the certificate: a reader that sees the new certificate finds its key.
    mv "$work/$name.key" "$out/$name.key"
    mv "$work/$name.pem" "$out/$name.pem"
}

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for name in ${SERVER_NAMES:-}; do
    if [[ $name =~ ^[0-9.]+$|: ]]; then san="$san,IP:$name"; else san="$san,DNS:$name"; fi
done
issue server localhost "$san" serverAuth
for host in "${hosts[@]}"; do
    issue "agent-$host" "$host" "DNS:$host" clientAuth
done
chmod 0644 "$out"/*.pem
echo "certificates in $out: ca.pem, server.pem/.key, $(printf 'agent-%s.pem/.key ' "${hosts[@]}")"
