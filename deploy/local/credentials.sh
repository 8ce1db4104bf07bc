#!/usr/bin/env bash
# The local credentials of `make run`, made on the first start and reused later:
#   - an admin user, a viewer and an admin API token, written to $VAR/local-credentials.env
#     (mode 0600) as HOSTVITALS_ADMIN_USER, HOSTVITALS_ADMIN_PASSWORD, HOSTVITALS_VIEWER_TOKEN
#     and HOSTVITALS_ADMIN_TOKEN, and printed once;
#   - the local agent's own credential (`agents add`), in $VAR/agent.token (mode 0600).
# Delete the file to have new ones made (the old tokens and the old agent credential are
# revoked then). Needs HOSTVITALS__STATE__DIR, the collector's state directory.
set -euo pipefail

VAR=${VAR:-var}
BIN=${BIN:-.venv/bin}
AGENT_HOST=${AGENT_HOST:-$(hostname)}
CREDS="$VAR/local-credentials.env"
AGENT_TOKEN="$VAR/agent.token"
ADMIN_USER="admin"
: "${HOSTVITALS__STATE__DIR:?set HOSTVITALS__STATE__DIR to the collector state directory}"
umask 077

cli() { "$BIN/hostvitals-collector" "$@"; }
token_id() { cut -d_ -f2 <<<"$1"; }

# The file's credentials still exist in the state database.
reusable() {
    [ -f "$CREDS" ] || return 1
    local users tokens
    # shellcheck source=/dev/null
    . "$CREDS"
    users=$(cli users list) && tokens=$(cli tokens list) || return 1
    grep -q "^${HOSTVITALS_ADMIN_USER:-} " <<<"$users" || return 1
    grep -q "^$(token_id "${HOSTVITALS_VIEWER_TOKEN:-x_}") " <<<"$tokens" || return 1
    grep -q "^$(token_id "${HOSTVITALS_ADMIN_TOKEN:-x_}") " <<<"$tokens" || return 1
}

make_credentials() {
    local password viewer admin
    if cli users list | grep -q "^$ADMIN_USER "; then
        password=$(cli users passwd "$ADMIN_USER" --generate 2>/dev/null)
    else
        password=$(cli users add "$ADMIN_USER" --role admin --generate 2>/dev/null)
    fi
    # Tokens of an earlier first start whose secrets are gone.
    cli tokens list | awk '$3 == "local-viewer" || $3 == "local-admin" {print $1}' |
        while read -r id; do cli tokens revoke "$id" 2>/dev/null; done
    viewer=$(cli tokens add --name local-viewer --role viewer 2>/dev/null)
    admin=$(cli tokens add --name local-admin --role admin 2>/dev/null)
    cat >"$CREDS.tmp" <<ENV
# Made by \`make run\` on its first start; delete this file to have new ones made.
HOSTVITALS_ADMIN_USER=$ADMIN_USER
HOSTVITALS_ADMIN_PASSWORD=$password
HOSTVITALS_VIEWER_TOKEN=$viewer
HOSTVITALS_ADMIN_TOKEN=$admin
ENV
    chmod 600 "$CREDS.tmp"
    mv "$CREDS.tmp" "$CREDS"
    echo "first start: made these local credentials (shown only now; they are in $CREDS):"
    sed -n 's/^HOSTVITALS_/  HOSTVITALS_/p' "$CREDS"
}

# The local agent's credential, bound to its host; its first frame pins its agent id.
enroll_agent() {
    local agents ref
    agents=$(cli agents list)
    if [ -s "$AGENT_TOKEN" ]; then
        ref=$(token_id "$(cat "$AGENT_TOKEN")")
        if grep -q "^$ref  *$AGENT_HOST " <<<"$agents"; then
            # A new agent state directory means a new agent id: let it pin again.
            [ -f "$VAR/agent/agent_id" ] || cli agents unpin "$ref" 2>/dev/null
            return 0
        fi
    fi
    awk -v host="$AGENT_HOST" 'NR > 1 && $2 == host {print $1}' <<<"$agents" |
        while read -r ref; do cli agents revoke "$ref" 2>/dev/null; done
    cli agents add --host "$AGENT_HOST" 2>/dev/null >"$AGENT_TOKEN.tmp"
    chmod 600 "$AGENT_TOKEN.tmp"
    mv "$AGENT_TOKEN.tmp" "$AGENT_TOKEN"
    echo "enrolled the local agent for host $AGENT_HOST (its credential is in $AGENT_TOKEN)"
}

mkdir -p "$VAR" "$HOSTVITALS__STATE__DIR"
reusable || make_credentials
enroll_agent
