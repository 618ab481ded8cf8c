# python3 bench/sim/checkout-histories.py <dir>: from the checkout histories that
# checkout-histories.sh saved, the time from the workflow's start to each step
# of its first workflow task (the part CreateOrder waits for: Update-with-Start
# returns once the update completes), p50/p90/max over the workflows, and the
# first events of one of them.
import json,sys,glob,statistics
from datetime import datetime
def t(s): 
  s=s.rstrip('Z'); 
  if '.' in s: a,b=s.split('.'); s=a+'.'+b[:6]
  return datetime.fromisoformat(s).timestamp()
rows=[]
for f in glob.glob(sys.argv[1]+'/*.json'):
  try: h=json.load(open(f))
  except Exception: continue
  ev=h.get('events',h)
  if not ev: continue
  t0=t(ev[0]['eventTime'])
  marks={}
  for e in ev:
    et=e['eventType']; tt=t(e['eventTime'])-t0
    marks.setdefault(et,[]).append(tt)
  def first(k): return marks.get(k,[None])[0]
  # sched/started/completed: the first workflow task; marker: beginCheckout's result
  # recorded; upd: the createOrder update completed (CreateOrder answers then);
  # wt2sched/wt2s: the second workflow task (after the authorization activity).
  rows.append(dict(
    sched=first('EVENT_TYPE_WORKFLOW_TASK_SCHEDULED'),
    started=first('EVENT_TYPE_WORKFLOW_TASK_STARTED'),
    completed=first('EVENT_TYPE_WORKFLOW_TASK_COMPLETED'),
    marker=first('EVENT_TYPE_MARKER_RECORDED'),
    upd=first('EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED'),
    wt2s=(marks.get('EVENT_TYPE_WORKFLOW_TASK_STARTED',[None,None])+[None])[1],
    wt2sched=(marks.get('EVENT_TYPE_WORKFLOW_TASK_SCHEDULED',[None,None])+[None])[1],
    n=len(ev)))
def q(xs,p):
  xs=sorted(x for x in xs if x is not None)
  return round(xs[min(len(xs)-1,int(p*len(xs)))]*1000) if xs else None
print("workflows",len(rows))
for k in ['sched','started','completed','marker','upd','wt2sched','wt2s']:
  print(f"{k:10s} p50 {q([r[k] for r in rows],.5)} ms  p90 {q([r[k] for r in rows],.9)} ms  max {q([r[k] for r in rows],.999)} ms")
# event types of one
h=json.load(open(glob.glob(sys.argv[1]+'/*.json')[0])); ev=h.get('events',h)
t0=t(ev[0]['eventTime'])
for e in ev[:14]: print(round((t(e['eventTime'])-t0)*1000), e['eventType'])
