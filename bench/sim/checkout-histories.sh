#!/usr/bin/env bash
# bench/sim/checkout-histories.sh <sim log> <out dir>: while `npm run simulate`
# runs (its output going to <sim log>), saves the Temporal history of every
# closed checkout workflow as <out dir>/<workflowId>.json, until the run's
# audit starts. Then `python3 bench/sim/checkout-histories.py <out dir>` gives
# where CreateOrder's wait goes (see bench/createorder-flood-notes.md). Each
# `temporal workflow show` is a process of its own: it adds CPU load to the run.
set -u
log=$1; out=$2; mkdir -p "$out"
T="$(cd "$(dirname "$0")/../.." && pwd)/.tools/bin/temporal"
addr=""
for i in $(seq 1 180); do addr=$(grep -o "temporal: [0-9.:]*" $log | awk '{print $2}'); [ -n "$addr" ] && break; sleep 1; done
[ -z "$addr" ] && exit 1
for i in $(seq 1 400); do
  $T workflow list --address $addr -q "WorkflowType='checkout'" --limit 1000 -o json 2>/dev/null | python3 -c "
import json,sys
try: d=json.load(sys.stdin)
except Exception: d=[]
for x in d:
  if x.get('status','') != 'WORKFLOW_EXECUTION_STATUS_RUNNING': print(x['execution']['workflowId'])
" | while read w; do [ -s $out/$w.json ] || $T workflow show --address $addr -w $w -o json > $out/$w.json 2>/dev/null; done
  grep -q "stopped temporal\|audit:" $log && break
  sleep 3
done
