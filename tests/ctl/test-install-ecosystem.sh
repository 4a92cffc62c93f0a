#!/bin/sh
# SPDX-License-Identifier: MIT
# What a packager and a user expect of "meson install": the man pages, the
# German catalogue, the bash completions, programs that speak German from
# the installed prefix, and the introspection data when it was built.
#
# test-install-ecosystem.sh BUILD_ROOT VERSION
set -u

build_root=$1
version=$2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

echo "1..7"
if ! meson install -C "$build_root" --no-rebuild --quiet --destdir "$root" >"$tmp/install.log" 2>&1; then
    echo "Bail out! meson install failed: $(tail -n 5 "$tmp/install.log")"
    exit 1
fi

n=0
status=0
result () {
    n=$((n + 1))
    if [ "$1" = ok ]; then
        echo "ok $n $2"
    else
        echo "not ok $n $2"
        status=1
    fi
}

# installed NAME...: the path below the destdir of each NAME, relative, or
# nothing if one is missing
installed () {
    for name in "$@"; do
        found=$(cd "$root" && find . -path "*/$name" -type f | head -n 1)
        [ -n "$found" ] || return 1
        echo "${found#.}"
    done
}

man8=$(installed man8/socketmaster.8) && man1=$(installed man1/socketmasterctl.1) &&
    result ok "man pages: $man8 $man1" || result fail "man pages socketmaster.8 and socketmasterctl.1 installed"

mo=$(installed de/LC_MESSAGES/socketmaster.mo) &&
    result ok "German catalogue: $mo" || result fail "de/LC_MESSAGES/socketmaster.mo installed"

completions=$(installed bash-completion/completions/socketmaster bash-completion/completions/socketmasterctl) &&
    result ok "bash completions: $(echo $completions)" || result fail "bash completions of both programs installed"

daemon=$root$(installed bin/socketmaster) || daemon=
ctl=$root$(installed bin/socketmasterctl) || ctl=

# The programs look for their catalogue in the LOCALEDIR they were built
# with, outside the destdir: in a mount namespace of its own the test puts
# the destdir's copy there (over the deepest directory that exists on this
# machine), and nothing else changes.
german () {
    program=$1
    expected=$2
    if [ -z "$mo" ] || [ ! -x "$program" ]; then
        result fail "$(basename "$program") --help in German: not installed"
        return
    fi
    localedir=$(dirname "$(dirname "$(dirname "$mo")")")
    mountpoint=$localedir
    while [ ! -d "$mountpoint" ]; do
        mountpoint=$(dirname "$mountpoint")
    done
    unshare_args=-m
    [ "$(id -u)" -eq 0 ] || unshare_args="-r -m"
    # shellcheck disable=SC2086 # two arguments when not root
    if ! unshare $unshare_args true 2>/dev/null; then
        echo "ok $((n + 1)) # SKIP no mount namespace for $(basename "$program") (unshare $unshare_args)"
        n=$((n + 1))
        return
    fi
    # shellcheck disable=SC2086
    out=$(unshare $unshare_args sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh \
              "$root$mountpoint" "$mountpoint" \
              env LC_ALL=C.UTF-8 LANGUAGE=de "$program" --help 2>&1)
    if printf '%s\n' "$out" | grep -q -F "$expected"; then
        result ok "LANGUAGE=de $(basename "$program") --help: $expected"
    else
        result fail "LANGUAGE=de $(basename "$program") --help says \"$expected\""
        printf '%s\n' "$out" | sed 's/^/# /'
    fi
}

german "$daemon" "Reverse-Proxy ohne Konfiguration"
german "$ctl" "Zeigt, was ein laufender socketmaster-Daemon tut."

if [ -x "$ctl" ] && [ "$("$ctl" --version)" = "socketmasterctl $version" ]; then
    result ok "installed socketmasterctl --version says $version"
else
    result fail "installed socketmasterctl --version says $version"
fi

# -Dintrospection (auto) decides whether the build has a typelib
if [ -e "$build_root/src/client/Socketmaster-1.typelib" ]; then
    gi=$(installed gir-1.0/Socketmaster-1.gir girepository-1.0/Socketmaster-1.typelib) &&
        result ok "introspection data: $(echo $gi)" ||
        result fail "Socketmaster-1.gir and Socketmaster-1.typelib installed"
else
    n=$((n + 1))
    echo "ok $n # SKIP introspection was not built (-Dintrospection)"
fi

exit $status
