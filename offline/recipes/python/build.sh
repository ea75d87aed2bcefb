#!/bin/bash
set -euo pipefail

# Only the system toolchain: no conda compilers, no host Python on PATH.
export PATH=/usr/bin:/bin

./configure \
    --prefix="$PREFIX" \
    --with-ensurepip=no \
    --without-static-libpython \
    --enable-ipv6 \
    --with-system-ffi
make -j"${CPU_COUNT:-2}"
make install

pylib="$PREFIX/lib/python3.11"

# Lean package: no test suites, no bytecode (Python writes it on first import),
# no man pages, and no debug symbols.
find "$pylib" -depth -type d \( -name test -o -name tests -o -name idle_test -o -name __pycache__ \) \
    -exec rm -rf {} +
rm -rf "$PREFIX/share/man"
strip --strip-unneeded "$PREFIX/bin/python3.11" "$pylib"/lib-dynload/*.so

# Unqualified names, as conda-forge's python provides them.
ln -sf python3.11 "$PREFIX/bin/python"
