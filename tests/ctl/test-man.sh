#!/bin/sh
# SPDX-License-Identifier: MIT
# A man page is lint-clean (man --warnings) and documents every long option
# the program's --help-all lists, so a new option without docs fails.
#
# test-man.sh PAGE PROGRAM
set -eu

page=$1
program=$2

echo "1..2"

if ! command -v man >/dev/null 2>&1; then
    echo "ok 1 # SKIP man is not installed (Debian: man-db)"
else
    warnings=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
    if [ -z "$warnings" ]; then
        echo "ok 1 man --warnings -l $(basename "$page")"
    else
        echo "not ok 1 man --warnings -l $(basename "$page")"
        printf '%s\n' "$warnings" | sed 's/^/# /'
    fi
fi

# The options as the program knows them, in English; in roff a "-" of an
# option is written "\-"
options=$(LC_ALL=C LANGUAGE='' "$program" --help-all |
    sed -n 's/^ *\(-[A-Za-z], \)\{0,1\}\(--[a-z0-9-]*\).*/\2/p')
test -n "$options" || { echo "not ok 2 no options in $program --help-all"; exit 0; }
missing=
for option in $options; do
    roff=$(printf '%s' "$option" | sed 's/-/\\\\-/g')
    grep -q -e "$roff\\([^a-z0-9\\\\]\\|\\\\f\\|\$\\)" "$page" || missing="$missing $option"
done
if [ -z "$missing" ]; then
    echo "ok 2 every option of $(basename "$program") --help-all is in $(basename "$page")"
else
    echo "not ok 2 options of $(basename "$program") missing in $(basename "$page"):$missing"
fi
