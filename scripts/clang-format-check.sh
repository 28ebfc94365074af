#!/usr/bin/env bash
# Fails when native/ or test C shims are not clang-formatted. --fix rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'native/*.cc' 'native/*.h' 'test/**/*.c')
[ ${#files[@]} -eq 0 ] && exit 0
if [ "${1:-}" = --fix ]; then exec clang-format -i "${files[@]}"; fi
clang-format --dry-run --Werror "${files[@]}"
