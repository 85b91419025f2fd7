#!/usr/bin/env bash
# The H200 half of issue 13's "done when": a signal to a 4-rank probe on real GPUs leaves no
# process and no GPU memory in use. Not part of CI (it needs a GPU and nvidia-smi). Run from
# the repository root after `npm ci`: bash test/chaos/h200-interrupt.sh [OUTDIR]
#
# The simulated device can hang a rank inside cudaIpcOpenMemHandle on purpose; a real driver
# cannot be made to. Here the probe is large (4 ranks x 4096 inputs, one GPU each when there
# are 4, else all on GPU 0), so its import step (the cudaIpcOpenMemHandle batch) lasts long
# enough to be interrupted in; the report says which step and call the signal found.
set -u
out=${1:-${OUT:-/tmp}}
ranks=4
gpus=$(nvidia-smi -L | wc -l)
devices=0,0,0,0
[ "$gpus" -ge 4 ] && devices=0,1,2,3
used() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | awk '{s+=$1} END {print s}'; }
apps() { nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -c . ; }
check() { # $1: label, $2: coordinator pid, $3: rank pids
  local label=$1 left="" states="" gone_ms=""
  sleep 1.5
  for p in $3; do
    if [ -e /proc/$p ] && grep -q '^State:[[:space:]]*[^Z[:space:]]' /proc/$p/status; then
      left="$left $p"; states="$states $(awk '/^State:/ {print $2}' /proc/$p/status)"
    fi
  done
  # A rank killed while it holds a CUDA context stays in the kernel until the driver has torn
  # the context down: how long until every one is gone (or a zombie), up to 10 s more.
  if [ -n "$left" ]; then
    local t0=$(date +%s%N)
    for _ in $(seq 1 200); do
      local still=""
      for p in $left; do [ -e /proc/$p ] && grep -q '^State:[[:space:]]*[^Z[:space:]]' /proc/$p/status && still="$still $p"; done
      [ -z "$still" ] && break
      sleep 0.05
    done
    gone_ms=" (states then:${states}; all gone $(( ($(date +%s%N) - t0) / 1000000 + 1500 )) ms after the signal${still:+, still alive:$still})"
  fi
  echo "$label: ranks alive 1.5 s after: [${left# }]${gone_ms}; GPU compute apps: $(apps); memory used: $(used) MiB (before: $base MiB)"
}
base=$(used)
echo "GPUs: $gpus; memory used before: $base MiB; compute apps: $(apps)"
for sig in INT TERM KILL; do
  for delay in 0.8 1.6 2.4; do
    node bin/cuipc.js probe --backend cuda --ranks $ranks --devices $devices --inputs 4096 --timeout 60000 -o "$out/report-$sig-$delay.json" >"$out/probe-$sig-$delay.txt" 2>&1 &
    coord=$!
    sleep "$delay"
    rankpids=$(ps -o pid= --ppid $coord | tr '\n' ' ')
    kill -$sig $coord
    wait $coord; code=$?
    step=$(grep -o 'INTERRUPTED[^;]*;[^;]*' "$out/probe-$sig-$delay.txt" | head -1)
    check "SIG$sig at ${delay}s: exit $code ${step:-(no report: SIGKILL)}" $coord "$rankpids"
  done
done
