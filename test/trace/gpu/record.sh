#!/usr/bin/env bash
# Records `cuipc trace` on a GPU machine (the H200), checks the recordings, and leaves
# machine-neutral fixtures in $OUT/fixtures/*.h200.jsonl for test/fixtures/trace/.
#   OUT=/some/dir bash test/trace/gpu/record.sh      (PYTHON=python with torch; CUDA_HOME=toolkit;
#                                                     NO_BUILD=1 to use build/ and dist/ as they are)
# Exit status: 0 every case behaved as h200-ipc-truth.md says, 1 a check failed, 3 no build.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
OUT="${OUT:-$ROOT/trace-recordings}"
PY="${PYTHON:-python3}"
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
cd "$ROOT"
failed=0
say() { echo "$*" | tee -a "$OUT/record.log"; }

# --- the machine ---
{
  nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  node --version; ls "$CUDA_HOME"/lib64/libcupti.so* "$CUDA_HOME"/extras/CUPTI/lib64/libcupti.so* 2>/dev/null
} > "$OUT/machine.txt" 2>&1

# --- build: the injection library, the interposer, the TypeScript (NO_BUILD=1: use the tree's
#     build as it is, e.g. one carried to a GPU host that has no npm) ---
[ "${NO_BUILD:-0}" = 1 ] || {
  PATH="$PATH:$CUDA_HOME/bin" npx cmake-js configure --out build &&
  cmake --build build --target cuipc_trace cuipc_vmm_interposer &&
  npx tsc -p tsconfig.json
} > "$OUT/build.log" 2>&1
if [ ! -f build/Release/libcuipc_trace.so ] || [ ! -f dist/cli/trace.js ]; then
  say "COULD NOT BUILD: see $OUT/build.log"; exit 3
fi
if readelf -d build/Release/libcuipc_trace.so | grep -Eq 'NEEDED.*(cupti|libcuda)'; then
  say "FAIL build: libcuipc_trace.so links CUPTI or libcuda at link time"; failed=1
else
  say "PASS build: libcuipc_trace.so needs neither libcupti nor libcuda at link time"
fi
"$CUDA_HOME/bin/nvcc" -cudart static -o "$OUT/capture_and_ipc" test/trace/gpu/capture_and_ipc.cu -lcuda >> "$OUT/build.log" 2>&1 ||
  "$CUDA_HOME/bin/nvcc" -cudart static -o "$OUT/capture_and_ipc" test/trace/gpu/capture_and_ipc.cu -L"$CUDA_HOME/lib64/stubs" -lcuda >> "$OUT/build.log" 2>&1 ||
  say "FAIL build: nvcc could not build capture_and_ipc.cu (see build.log)"

# --- one case: NAME EXPECTED_STATUS [env args...] -- COMMAND... ---
trace_case() {
  local name=$1 want=$2; shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  rm -rf "${OUT:?}/$name"
  local start end got
  start=$(date +%s.%N)
  env ${envs[@]+"${envs[@]}"} node test/trace/gpu/run-trace.mjs trace --verbose --trace-dir "$OUT/$name" -- "$@" \
    > "$OUT/$name.stdout" 2> "$OUT/$name.summary.txt"
  got=$?
  end=$(date +%s.%N)
  node test/trace/gpu/run-trace.mjs trace report "$OUT/$name" --json > "$OUT/$name.summary.json" 2>> "$OUT/record.log"
  if [ "$got" -eq "$want" ]; then say "PASS $name: exit $got ($(awk "BEGIN { printf \"%.1f\", $end - $start }") s traced)"
  else say "FAIL $name: exit $got, expected $want (see $OUT/$name.summary.txt)"; failed=1; fi
}

SCRIPT=test/trace/gpu/expandable_segments.py
trace_case plain_cudamalloc 0 -u PYTORCH_CUDA_ALLOC_CONF -u PYTORCH_ALLOC_CONF -u LD_PRELOAD -- "$PY" "$SCRIPT" --ranks 2
trace_case expandable_segments 1 -u LD_PRELOAD PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True -- "$PY" "$SCRIPT" --ranks 2
trace_case vmm_interposer 1 -u PYTORCH_CUDA_ALLOC_CONF -u PYTORCH_ALLOC_CONF CUIPC_INTERPOSER_REGION=all LD_PRELOAD="$ROOT/build/Release/libcuipc_vmm_interposer.so" -- "$PY" "$SCRIPT" --ranks 2
trace_case static_runtime 0 -u LD_PRELOAD -- "$OUT/capture_and_ipc"
trace_case cupti_unavailable 3 CUIPC_LIBCUPTI=/nonexistent/libcupti.so.13 -- "$PY" "$SCRIPT" --ranks 1

# --- the cost: the same plain run without the tracer ---
start=$(date +%s.%N)
env -u PYTORCH_CUDA_ALLOC_CONF -u LD_PRELOAD "$PY" "$SCRIPT" --ranks 2 > /dev/null 2>&1
end=$(date +%s.%N)
say "INFO plain_cudamalloc untraced: $(awk "BEGIN { printf \"%.1f\", $end - $start }") s"

# --- fixtures, and the checks recorded.test.ts makes on them ---
node test/trace/gpu/collect.mjs "$OUT" "$ROOT" | tee -a "$OUT/record.log"
if CUIPC_TRACE_RECORDINGS="$OUT/fixtures" node node_modules/vitest/vitest.mjs run test/trace/recorded.test.ts > "$OUT/recorded.test.log" 2>&1; then
  say "PASS recorded.test.ts on $OUT/fixtures"
else
  say "FAIL recorded.test.ts on $OUT/fixtures (see $OUT/recorded.test.log)"; failed=1
fi
say "Done. Copy $OUT/fixtures/*.h200.jsonl into test/fixtures/trace/ when every line above is PASS."
exit $failed
