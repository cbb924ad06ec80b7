#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer (README "Reliability"):
#   1. the C++ tests (ctest) built with -fsanitize=$DLN_SANITIZE, leak checking on;
#   2. the Python test suite against an ASan/UBSan build of dln._core (libasan preloaded, because the
#      Python interpreter itself is not instrumented; leak checking off, since CPython keeps memory
#      alive until exit by design and would drown real reports).
# Any sanitizer report aborts the process (-fno-sanitize-recover=all), so a clean run is exit code 0.
# Usage: scripts/sanitize.sh [cpp|python|all] [extra pytest args]   (needs the .venv of the README)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
[ $# -gt 0 ] && shift
PY=${PYTHON:-$PWD/.venv/bin/python}
export PATH="$(dirname "$PY"):$PATH"  # cmake and ninja from the venv
SAN=${DLN_SANITIZE:-address,undefined}
BUILD=$PWD/build/sanitize
SITE=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
JOBS=${JOBS:-2}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

if [ "$what" = cpp ] || [ "$what" = all ]; then
  cmake -S . -B "$BUILD/cpp" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLN_SANITIZE="$SAN" -DDLN_TESTS=ON \
        -DCMAKE_PREFIX_PATH="$SITE" > "$BUILD.cpp-configure.log"
  cmake --build "$BUILD/cpp" -j "$JOBS" --target dln_tests
  (cd "$BUILD/cpp" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --output-on-failure)
fi

if [ "$what" = python ] || [ "$what" = all ]; then
  # A separate install tree: the venv's regular build stays as it is.
  "$PY" -m pip install -q --no-build-isolation --no-deps --upgrade --target "$BUILD/site" \
        -C cmake.define.DLN_SANITIZE="$SAN" -C cmake.build-type=RelWithDebInfo -C build-dir="$BUILD/py" .
  # libasan first; libstdc++ too, because python itself does not load it and ASan must find the real
  # __cxa_throw when it starts ("CHECK failed ... real___cxa_throw" on the first C++ exception).
  export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so.6)"
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 PYTHONPATH="$BUILD/site"
  # The instrumented extension is the one under test.
  "$PY" -c "import dln; f = dln._core.__file__; assert f.startswith('$BUILD/site'), f; print('testing', f)"
  # test_cpp.py builds plain (unsanitized) C++ from source: step 1 covers the C++ tests under ASan.
  "$PY" -m pytest -q -p no:cacheprovider --ignore=tests/test_cpp.py -o addopts="" "$@"
  unset LD_PRELOAD
fi
echo "sanitize.sh: $what clean under -fsanitize=$SAN"
