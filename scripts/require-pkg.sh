#!/usr/bin/env bash
# Prints pkg-config flags for binding.gyp, or stops the build naming the Debian
# package that provides a missing library. Usage: require-pkg.sh --cflags|--libs lib:debpkg...
set -u
mode=$1; shift
missing=()
mods=()
for spec in "$@"; do
  mod=${spec%%:*}; deb=${spec#*:}
  if pkg-config --exists "$mod" 2>/dev/null; then mods+=("$mod"); else missing+=("$deb ($mod)"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "vmbootfail: cannot build the native addon, missing development files: ${missing[*]}" >&2
  echo "vmbootfail: install them with: apt-get install ${missing[*]%% *} pkg-config" >&2
  exit 1
fi
if [ "$mode" = --cflags ]; then
  pkg-config --cflags-only-I "${mods[@]}" | sed 's/-I//g'
else
  pkg-config --libs "${mods[@]}"
fi
