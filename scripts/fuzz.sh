#!/usr/bin/env bash
# Fuzz the Python entry points for a stated budget (README "Reliability").
#   scripts/fuzz.sh [MINUTES]      (default 5; split between hypothesis and atheris when installed)
# 1. hypothesis: tests/test_fuzz.py with DLN_FUZZ_EXAMPLES examples per property and a fresh random
#    seed per round, until the hypothesis share of the budget is spent; the example database
#    (fuzz/hypothesis-db) keeps failing and interesting inputs and is replayed first.
# 2. atheris (pip install atheris): fuzz/atheris_fuzz.py, coverage-guided, corpus in fuzz/corpus
#    (new interesting inputs are added there; commit them to keep them).
# A crash or a property failure stops the script with a non-zero exit code; the summary line gives
# the wall time of each part and the CPU-minutes spent (one process, one thread at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-5}
PY=${PYTHON:-$PWD/.venv/bin/python}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
HAS_ATHERIS=$("$PY" -c "import atheris" 2>/dev/null && echo 1 || echo 0)
TOTAL=$((MINUTES * 60))
HYP=$TOTAL
[ "$HAS_ATHERIS" = 1 ] && HYP=$((TOTAL / 2))
start=$(date +%s)
rounds=0
while [ $(( $(date +%s) - start )) -lt "$HYP" ]; do
  seed=$RANDOM$RANDOM
  echo "$seed" >> fuzz/seeds.txt
  DLN_FUZZ_EXAMPLES=${DLN_FUZZ_EXAMPLES:-300} "$PY" -X faulthandler -m pytest -q -p no:cacheprovider \
    tests/test_fuzz.py --hypothesis-seed="$seed" -o addopts=""
  rounds=$((rounds + 1))
done
hyp_s=$(( $(date +%s) - start ))
ath_s=0
if [ "$HAS_ATHERIS" = 1 ]; then
  left=$((TOTAL - hyp_s)); [ "$left" -lt 10 ] && left=10
  t0=$(date +%s)
  # -rss_limit_mb: dln refuses absurd sizes itself, so a large RSS would be a finding.
  "$PY" fuzz/atheris_fuzz.py fuzz/corpus -max_total_time="$left" -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix=fuzz/
  ath_s=$(( $(date +%s) - t0 ))
fi
# CPU time of all the fuzzing processes (bash's `times`, second line: children user and system).
times > "${TMPDIR:-/tmp}/dln-fuzz-times.$$"
cpu=$(tail -1 "${TMPDIR:-/tmp}/dln-fuzz-times.$$" | "$PY" -c "
import re, sys
t = [int(m) * 60 + float(s) for m, s in re.findall(r'(\d+)m([\d.]+)s', sys.stdin.read())]
print(f'{sum(t) / 60:.1f}')")
rm -f "${TMPDIR:-/tmp}/dln-fuzz-times.$$"
echo "fuzz.sh: 0 crashes; hypothesis ${rounds} rounds in $((hyp_s / 60)) min $((hyp_s % 60)) s wall," \
     "atheris $((ath_s / 60)) min $((ath_s % 60)) s wall; ${cpu} CPU-minutes in all"
