#!/bin/sh
# SPDX-License-Identifier: MIT
# po/POTFILES.in lists exactly the source files with translatable strings
# (_(), N_(), C_(), NC_(), Q_(), g_dngettext() ...), sorted and once each,
# and every language of po/LINGUAS translates all of them.
#
# test-potfiles.sh SOURCE_ROOT
set -eu

cd "$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# clang-format writes "_ (", hand-written code may say "_("
pattern='(^|[^A-Za-z0-9_])(N?C?_|Q_|g_dngettext|g_dpgettext2?|ngettext) ?\('
find src examples -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort >"$tmp/sources"
: >"$tmp/translatable"
while read -r file; do
    if grep -qE "$pattern" "$file"; then
        echo "$file" >>"$tmp/translatable"
    fi
done <"$tmp/sources"

grep -v -e '^#' -e '^[[:space:]]*$' po/POTFILES.in >"$tmp/listed"

echo "1..4"
status=0

# report N WHAT PROBLEMS: ok when PROBLEMS is empty
report () {
    if [ -z "$3" ]; then
        echo "ok $1 $2"
    else
        echo "not ok $1 $2:" $3
        status=1
    fi
}

LC_ALL=C sort -u -c "$tmp/listed" 2>"$tmp/sort" || echo "unsorted or twice" >>"$tmp/sort"
report 1 "POTFILES.in is sorted, each file once" "$(cat "$tmp/sort")"
report 2 "every source file with translatable strings is in POTFILES.in" \
    "$(LC_ALL=C sort "$tmp/listed" | LC_ALL=C comm -13 - "$tmp/translatable")"
report 3 "POTFILES.in lists only files with translatable strings, all present" \
    "$(LC_ALL=C sort "$tmp/listed" | LC_ALL=C comm -23 - "$tmp/translatable")"

# The strings as xgettext sees them (meson's "glib" preset), merged into
# each catalogue: nothing may be left untranslated or fuzzy
if ! command -v xgettext >/dev/null 2>&1 || ! command -v msgmerge >/dev/null 2>&1; then
    echo "ok 4 # SKIP xgettext or msgmerge missing (Debian: gettext)"
    exit $status
fi
xgettext --from-code=UTF-8 --add-comments --keyword=_ --keyword=N_ --keyword=C_:1c,2 \
    --keyword=NC_:1c,2 --keyword=g_dcgettext:2 --keyword=g_dngettext:2,3 \
    --keyword=g_dpgettext2:2c,3 -f po/POTFILES.in -o "$tmp/template.pot" 2>"$tmp/xgettext.log"
incomplete=
for lang in $(grep -v -e '^#' -e '^[[:space:]]*$' po/LINGUAS); do
    msgmerge --quiet --no-fuzzy-matching -o "$tmp/$lang.po" "po/$lang.po" "$tmp/template.pot"
    untranslated=$(msgattrib --untranslated --no-obsolete "$tmp/$lang.po" | grep -c '^msgid ' || true)
    fuzzy=$(msgattrib --only-fuzzy --no-obsolete "$tmp/$lang.po" | grep -c '^msgid ' || true)
    # The header entry counts as one when there are others
    [ "$untranslated" -le 1 ] || incomplete="$incomplete $lang: $((untranslated - 1)) untranslated;"
    [ "$fuzzy" -le 1 ] || incomplete="$incomplete $lang: $((fuzzy - 1)) fuzzy;"
    if [ "$untranslated" -gt 1 ]; then
        msgattrib --untranslated --no-obsolete --no-wrap "$tmp/$lang.po" | grep '^msgid "..*"' | sed "s/^/# $lang: /"
    fi
done
report 4 "every catalogue of po/LINGUAS is complete (else: meson compile socketmaster-update-po, translate)" \
    "$incomplete"
exit $status
