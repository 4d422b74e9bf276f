#!/bin/sh
# Build a musl userland with CPython into a root file system directory, by cross-compiling
# on the host with the host's gcc (or aarch64-linux-gnu-gcc) against Debian's musl-dev.
# Called by runner/backends/recipes/musl.py, which downloads and verifies the inputs; every
# setting comes from the environment:
#   WM_TRIPLET   x86_64-linux-musl | aarch64-linux-musl
#   WM_GCC       the gcc that emits code for that arch (gcc, aarch64-linux-gnu-gcc)
#   WM_SRC       directory with the verified inputs (see musl.py for the list)
#   WM_WORK      scratch directory (removed by the caller)
#   WM_ROOT      the root file system to fill
#   WM_PYTHON    MAJOR.MINOR of the CPython source; the host's pythonX.Y builds it
#   WM_JOBS      parallel make jobs
set -eu
: "${WM_TRIPLET:?}" "${WM_GCC:?}" "${WM_SRC:?}" "${WM_WORK:?}" "${WM_ROOT:?}" "${WM_PYTHON:?}"
JOBS=${WM_JOBS:-2}
ARCH=${WM_TRIPLET%%-*}
SYS=$WM_WORK/sysroot      # musl headers and libraries, plus the static zlib and libffi
DEPS=$WM_WORK/deps
mkdir -p "$SYS" "$DEPS" "$WM_ROOT"

step() { echo "[musl-recipe] $*"; }

step "unpacking musl for $ARCH"
for deb in "$WM_SRC"/musl_*.deb "$WM_SRC"/musl-dev_*.deb; do dpkg-deb -x "$deb" "$SYS"; done

# musl-dev has no kernel headers: link the gcc's own (linux-libc-dev, or its -cross twin for
# aarch64) into a directory of their own, so that no glibc header comes with them.
KERNEL=$WM_WORK/kernel
mkdir -p "$KERNEL"
for dir in $("$WM_GCC" -E -Wp,-v -xc /dev/null 2>&1 | sed -n 's/^ \(\/.*\)/\1/p'); do
  for sub in linux asm asm-generic mtd; do
    [ -d "$dir/$sub" ] && [ ! -e "$KERNEL/$sub" ] && ln -s "$dir/$sub" "$KERNEL/$sub"
  done
done
[ -e "$KERNEL/linux/limits.h" ] && [ -e "$KERNEL/asm" ] \
  || { echo "no Linux kernel headers for $WM_GCC (install linux-libc-dev)"; exit 1; }

# A gcc specs file that swaps glibc for musl: musl's headers first, musl's start files, and
# musl's dynamic loader as the program interpreter (the same idea as musl-gcc's wrapper).
# (musl-dev's libc.so link is absolute, into the target's /lib: -L that directory first, or the
# linker would take libc.a and build programs that cannot dlopen)
LIBDIR=$SYS/usr/lib/$WM_TRIPLET
cat > "$WM_WORK/musl.specs" <<SPECS
%rename cpp_options old_cpp_options

*cpp_options:
-nostdinc -isystem $DEPS/include -isystem $SYS/usr/include/$WM_TRIPLET -isystem $KERNEL -isystem include%s %(old_cpp_options)

*cc1:
%(cc1_cpu) -nostdinc -isystem $DEPS/include -isystem $SYS/usr/include/$WM_TRIPLET -isystem $KERNEL -isystem include%s

*link_libgcc:
-L$DEPS/lib -L$SYS/lib/$WM_TRIPLET -L$LIBDIR -L .%s

*libgcc:
libgcc.a%s %:if-exists(libgcc_eh.a%s)

*startfile:
%{!shared: $LIBDIR/Scrt1.o} $LIBDIR/crti.o crtbeginS.o%s

*endfile:
crtendS.o%s $LIBDIR/crtn.o

*link:
-dynamic-linker /lib/ld-musl-$ARCH.so.1 -nostdlib %{shared:-shared} %{static:-static} %{rdynamic:-export-dynamic}

SPECS

# CPython's configure asks the compiler for its multiarch triplet, which a glibc gcc answers
# with *-linux-gnu: the wrapper answers nothing, so that configure's own musl triplet stands.
# setup.py adds the host's library and include directories to its command lines: the wrapper
# drops every absolute -L/-I outside the work directory, so that nothing links against the
# host's glibc-built libraries.
cat > "$WM_WORK/cc" <<WRAP
#!/bin/sh
case "\$1" in -print-multiarch|--print-multiarch) exit 0 ;; esac
for arg in "\$@"; do
  shift
  case "\$arg" in
    -L$WM_WORK*|-I$WM_WORK*) set -- "\$@" "\$arg" ;;
    -L/*|-I/*) ;;  # the host's own directories (/usr/lib, /usr/aarch64-linux-gnu/lib, ...)
    *) set -- "\$@" "\$arg" ;;
  esac
done
exec $WM_GCC -specs $WM_WORK/musl.specs "\$@"
WRAP
chmod +x "$WM_WORK/cc"
# configure insists on a readelf named for the target; binutils' own reads every arch
ln -sf "$(command -v readelf)" "$WM_WORK/$WM_TRIPLET-readelf"
CC=$WM_WORK/cc
export PKG_CONFIG_LIBDIR=$DEPS/lib/pkgconfig PKG_CONFIG_PATH=

step "building zlib (static)"
mkdir -p "$WM_WORK/zlib" && tar -xf "$WM_SRC"/zlib_*.orig.tar.* -C "$WM_WORK/zlib" --strip-components=1
(cd "$WM_WORK/zlib" && CC=$CC CFLAGS="-O2 -fPIC" ./configure --static --prefix="$DEPS" >/dev/null \
  && make -j"$JOBS" libz.a >/dev/null && make install >/dev/null)

step "building libffi (static)"
mkdir -p "$WM_WORK/libffi" && tar -xf "$WM_SRC"/libffi_*.orig.tar.* -C "$WM_WORK/libffi" --strip-components=1
(cd "$WM_WORK/libffi" && ./configure --host="$WM_TRIPLET" --build="$(uname -m)-linux-gnu" CC="$CC" \
  CFLAGS="-O2 -fPIC" --prefix="$DEPS" --libdir="$DEPS/lib" --disable-shared --enable-static \
  --disable-docs --disable-multi-os-directory >"$WM_WORK/libffi.log" 2>&1 \
  && make -j"$JOBS" >>"$WM_WORK/libffi.log" 2>&1 && make install >>"$WM_WORK/libffi.log" 2>&1) \
  || { tail -40 "$WM_WORK/libffi.log"; exit 1; }

step "building CPython $WM_PYTHON for $WM_TRIPLET"
mkdir -p "$WM_WORK/cpython" && tar -xf "$WM_SRC"/python*.orig.tar.* -C "$WM_WORK/cpython" --strip-components=1
cd "$WM_WORK/cpython"
# configure derives the musl triplet from the *build* system's name (fixed upstream in 3.12);
# test the host system so that extension modules get the -linux-musl suffix wheels carry.
sed -i 's/case "\$build_os" in/case "$host_os" in/' configure
./configure --host="$WM_TRIPLET" --build="$(uname -m)-linux-gnu" --prefix=/usr/local \
  --with-build-python="python$WM_PYTHON" --without-ensurepip --disable-test-modules \
  --enable-shared LDFLAGS="-Wl,-rpath,/usr/local/lib" CC="$CC" READELF="$WM_WORK/$WM_TRIPLET-readelf" \
  OPT="-DNDEBUG -fwrapv -O2 -Wall" ac_cv_file__dev_ptmx=yes ac_cv_file__dev_ptc=no ac_cv_buggy_getaddrinfo=no \
  LIBFFI_CFLAGS="-I$DEPS/include" LIBFFI_LIBS="-L$DEPS/lib -lffi" \
  ZLIB_CFLAGS="-I$DEPS/include" ZLIB_LIBS="-L$DEPS/lib -lz" >"$WM_WORK/configure.log" 2>&1 \
  || { tail -40 "$WM_WORK/configure.log"; exit 1; }
grep -q "^MULTIARCH=.*$WM_TRIPLET" Makefile || { echo "configure chose $(grep "^MULTIARCH=" Makefile)"; exit 1; }
make -j"$JOBS" >"$WM_WORK/make.log" 2>&1 || { tail -40 "$WM_WORK/make.log"; exit 1; }
make install DESTDIR="$WM_ROOT" >"$WM_WORK/install.log" 2>&1 || { tail -40 "$WM_WORK/install.log"; exit 1; }
grep -E "^(Failed to build|The necessary bits)" -A4 "$WM_WORK/make.log" || true

step "checking that every module links only musl and libpython"
for so in "$WM_ROOT"/usr/local/lib/python"$WM_PYTHON"/lib-dynload/*.so "$WM_ROOT"/usr/local/bin/python"$WM_PYTHON"; do
  readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r lib; do
    case "$lib" in libc.so|libpython*) ;; *) echo "$so needs $lib: a host library leaked in"; exit 1 ;; esac
  done
done

step "assembling the root file system"
cd "$WM_ROOT"
LIB=usr/local/lib/python$WM_PYTHON
rm -rf "$LIB/test" "$LIB/idlelib" "$LIB/tkinter" "$LIB/turtledemo" "$LIB/lib2to3/tests" usr/local/share
find "$LIB" -name __pycache__ -prune -exec rm -rf {} +
"${WM_GCC%gcc}strip" --strip-unneeded usr/local/bin/python"$WM_PYTHON" usr/local/lib/libpython*.so* \
  "$LIB"/lib-dynload/*.so 2>/dev/null || true
ln -sf python3 usr/local/bin/python
mkdir -p lib etc bin usr/bin tmp root "usr/lib/$WM_TRIPLET"
# musl's libc is also its dynamic loader: one file, found by the program interpreter path
LIBC=$(ls "$SYS/usr/lib/$WM_TRIPLET/libc.so" "$SYS/lib/$WM_TRIPLET/libc.so" 2>/dev/null | head -1)
[ -n "$LIBC" ] || { echo "no libc.so in the musl package"; exit 1; }
cp "$LIBC" "usr/lib/$WM_TRIPLET/libc.so"
ln -sf "/usr/lib/$WM_TRIPLET/libc.so" "lib/ld-musl-$ARCH.so.1"
cp -a "$SYS/etc/." etc/
dpkg-deb -x "$WM_SRC"/busybox-static_*.deb "$WM_WORK/busybox"
cp "$WM_WORK/busybox/bin/busybox" bin/busybox
for applet in sh ash cat ls cp mv rm mkdir rmdir ln env tail head grep sed awk find sort uniq \
  wc tr id ps kill sleep true false echo printf uname which tar gzip gunzip xargs chmod chown \
  readlink dirname basename stat touch date du df vi less more test expr mktemp; do
  ln -sf busybox "bin/$applet"
done
ln -sf /bin/env usr/bin/env
chmod 1777 tmp
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > etc/group
step "done"
