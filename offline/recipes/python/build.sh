#!/bin/bash
set -euo pipefail

# Only the system toolchain: no conda compilers, no host Python on PATH.
export PATH=/usr/bin:/bin

# Milestones; offline/channel.py echoes lines starting with "==>".
step() { echo "==> $*"; }

# Modules that need libraries the base image does not carry (Tk, NIS, dbm)
# are switched off explicitly, so the result does not depend on which -dev
# packages happen to be installed on the build machine.
step "configure"
./configure \
    --prefix="$PREFIX" \
    --with-ensurepip=no \
    --without-static-libpython \
    --disable-test-modules \
    --with-system-ffi \
    py_cv_module__tkinter=n/a \
    py_cv_module_nis=n/a \
    py_cv_module__dbm=n/a \
    py_cv_module__gdbm=n/a
step "make (${CPU_COUNT:-2} jobs)"
make -j"${CPU_COUNT:-2}"
step "make install"
make install

# A missing -dev package makes configure skip a module silently; fail instead.
"$PREFIX/bin/python3.11" -c "import ssl, hashlib, ctypes, sqlite3, bz2, lzma, zlib, readline, curses, uuid, crypt"

step "trim the install"
pylib="$PREFIX/lib/python3.11"

# Lean package: no test suites, no Tk-based tools (there is no _tkinter),
# no bytecode (Python writes it on first import), no man pages, no symbols.
find "$pylib" -depth -type d \( -name test -o -name tests -o -name idle_test -o -name __pycache__ \) \
    -exec rm -rf {} +
rm -rf "$pylib/idlelib" "$pylib/tkinter" "$pylib/turtledemo" "$pylib/turtle.py" \
    "$PREFIX"/bin/idle3* "$PREFIX/share/man"
strip --strip-unneeded "$PREFIX/bin/python3.11" "$pylib"/lib-dynload/*.so

# The unqualified name, as conda-forge's python provides it.
ln -sf python3.11 "$PREFIX/bin/python"
