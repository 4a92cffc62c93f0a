#!/bin/bash
# SPDX-License-Identifier: MIT
# The bash completions of data/completions, run as bash runs them: the
# words so far in COMP_WORDS, the answer in COMPREPLY.
#
# test-completion.sh COMPLETIONS_DIR SOCKETMASTER SOCKETMASTERCTL
set -u

completions=$1
daemon=$2
ctl=$3

# shellcheck source=/dev/null
. "$completions/socketmaster" || exit 1
# shellcheck source=/dev/null
. "$completions/socketmasterctl" || exit 1

n=0
failed=0

# check FUNCTION EXPECTED WORD... : completes the last word
check ()
{
    local function=$1 expected=$2 got
    shift 2
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    "$function"
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
    n=$((n + 1))
    if [ "$got" = "$expected" ]; then
        echo "ok $n ${*:2}"
    else
        echo "not ok $n ${*:2}: expected \"$expected\", got \"$got\""
        failed=1
    fi
}

echo "1..11"

# socketmasterctl: the commands of its usage line (without their
# arguments, "drain ROUTE"), once; its options
usage=$(LC_ALL=C LANGUAGE='' "$ctl" --help | sed -n "s/^ *socketmasterctl \\[[^]]*\\] //p" |
        tr '|' '\n' | sed 's/ [A-Z][A-Z]*$//' | sort | tr '\n' ' ' | sed 's/ $//')
check _socketmasterctl "$usage" "$ctl" ""
check _socketmasterctl "ports" "$ctl" --json p
check _socketmasterctl "" "$ctl" routes ""
check _socketmasterctl "--json" "$ctl" --j
check _socketmasterctl "--session --system" "$ctl" --s
check _socketmasterctl "--version" "$ctl" --vers

# socketmaster: options from its --help-all, values by kind
check _socketmaster "--max-services --max-services-per-user --max-streams-per-service" \
    "$daemon" --max-s
check _socketmaster "--hold-timeout" "$daemon" --verbose --hold
check _socketmaster "" "$daemon" --hold-timeout ""
check _socketmaster "root" "$daemon" --allow-user roo
check _socketmaster "root" "$daemon" --privileged-group = ro

exit $failed
