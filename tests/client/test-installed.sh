#!/bin/sh
# SPDX-License-Identifier: MIT
# A service builds against libsocketmaster as installed: the public headers
# (SM_ERROR_REJECTED from sm-error.h included) through socketmaster-1.pc,
# nothing from the source or build tree.
#
# test-installed.sh BUILD_ROOT SOURCE.c CC [CC ARGS...]
set -eu

build_root=$1
source=$2
shift 2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build_root" --no-rebuild --quiet --destdir "$tmp/root" >/dev/null
pc=$(find "$tmp/root" -name socketmaster-1.pc)
test -n "$pc" || { echo "socketmaster-1.pc was not installed" >&2; exit 1; }

# The .pc file below the destdir, moved there as a whole; gio-2.0 and the
# other requirements still come from the system.
prefix=$(sed -n 's/^prefix=//p' "$pc")
mkdir "$tmp/pkgconfig"
sed "s|^prefix=.*|prefix=$tmp/root$prefix|" "$pc" >"$tmp/pkgconfig/socketmaster-1.pc"
flags=$(PKG_CONFIG_PATH="$tmp/pkgconfig" pkg-config --cflags --libs socketmaster-1)

# shellcheck disable=SC2086 # $flags is a list of arguments
"$@" -Wall -Werror "$source" -o "$tmp/client" $flags
echo "compiled and linked $source against the installed library"
