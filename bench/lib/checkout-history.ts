// Where a workflow's wall time goes, from its Temporal history: workflow tasks
// waiting in the task queue (scheduled -> started) and running in the worker
// (started -> completed; local activities run inside them), normal activities
// waiting and running, and the rest. Read after the rounds, from a sample of
// workflows, so it costs the measured rounds nothing.
import type { Client } from "@temporalio/client";
import { median, round } from "./stats.js";

type Id = number | { toString(): string } | null | undefined;
type Ts = { seconds?: Id; nanos?: number | null } | null | undefined;

interface HEvent {
  eventId?: Id;
  eventTime?: Ts;
  workflowTaskScheduledEventAttributes?: object | null;
  workflowTaskStartedEventAttributes?: { scheduledEventId?: Id } | null;
  workflowTaskCompletedEventAttributes?: { startedEventId?: Id } | null;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
  activityTaskStartedEventAttributes?: { scheduledEventId?: Id } | null;
  activityTaskCompletedEventAttributes?: { scheduledEventId?: Id; startedEventId?: Id } | null;
  timerStartedEventAttributes?: object | null;
  markerRecordedEventAttributes?: object | null;
  workflowExecutionStartedEventAttributes?: object | null;
  workflowExecutionCompletedEventAttributes?: object | null;
  workflowExecutionUpdateAcceptedEventAttributes?: object | null;
}

const num = (x: Id): number => (x === null || x === undefined ? NaN : Number(x.toString()));
const ms = (t: Ts): number => (t ? num(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : NaN);

export interface HistoryBreakdown {
  workflowId: string;
  events: number;
  totalMs: number;
  workflowTasks: number;
  wftQueueMs: number;
  wftRunMs: number;
  activities: number;
  activityQueueMs: number;
  activityRunMs: number;
  /** total - the four above: server-side gaps (persisting, dispatching, between tasks). */
  otherMs: number;
  timers: number;
  markers: number;
  perActivity: Record<string, { queueMs: number; runMs: number }>;
}

export function breakdown(workflowId: string, events: HEvent[]): HistoryBreakdown {
  const at = new Map<number, number>();
  let start = NaN;
  let end = NaN;
  let wfts = 0;
  let wftQueue = 0;
  let wftRun = 0;
  let acts = 0;
  let actQueue = 0;
  let actRun = 0;
  let timers = 0;
  let markers = 0;
  const names = new Map<number, string>();
  const perActivity: HistoryBreakdown["perActivity"] = {};
  for (const e of events) {
    const id = num(e.eventId);
    const t = ms(e.eventTime);
    at.set(id, t);
    if (e.workflowExecutionStartedEventAttributes) start = t;
    if (e.workflowExecutionCompletedEventAttributes) end = t;
    if (e.workflowTaskScheduledEventAttributes) wfts++;
    if (e.workflowTaskStartedEventAttributes)
      wftQueue += t - (at.get(num(e.workflowTaskStartedEventAttributes.scheduledEventId)) ?? t);
    if (e.workflowTaskCompletedEventAttributes)
      wftRun += t - (at.get(num(e.workflowTaskCompletedEventAttributes.startedEventId)) ?? t);
    if (e.activityTaskScheduledEventAttributes) {
      acts++;
      names.set(id, e.activityTaskScheduledEventAttributes.activityType?.name ?? "?");
    }
    if (e.activityTaskStartedEventAttributes) {
      const sid = num(e.activityTaskStartedEventAttributes.scheduledEventId);
      const q = t - (at.get(sid) ?? t);
      actQueue += q;
      const name = names.get(sid) ?? "?";
      perActivity[name] = { queueMs: round(q, 1), runMs: NaN };
    }
    if (e.activityTaskCompletedEventAttributes) {
      const r = t - (at.get(num(e.activityTaskCompletedEventAttributes.startedEventId)) ?? t);
      actRun += r;
      const name = names.get(num(e.activityTaskCompletedEventAttributes.scheduledEventId)) ?? "?";
      if (perActivity[name]) perActivity[name].runMs = round(r, 1);
    }
    if (e.timerStartedEventAttributes) timers++;
    if (e.markerRecordedEventAttributes) markers++;
  }
  const total = end - start;
  return {
    workflowId,
    events: events.length,
    totalMs: round(total, 1),
    workflowTasks: wfts,
    wftQueueMs: round(wftQueue, 1),
    wftRunMs: round(wftRun, 1),
    activities: acts,
    activityQueueMs: round(actQueue, 1),
    activityRunMs: round(actRun, 1),
    otherMs: round(total - wftQueue - wftRun - actQueue - actRun, 1),
    timers,
    markers,
    perActivity,
  };
}

/** The medians over the sample of each figure of a breakdown. */
export interface HistorySummary extends Omit<HistoryBreakdown, "workflowId"> {
  sampled: number;
  samples: HistoryBreakdown[];
}

export async function sampleHistories(client: Client, workflowIds: string[], n: number): Promise<HistorySummary> {
  // spread the sample over the round
  const step = Math.max(1, Math.floor(workflowIds.length / n));
  const ids = workflowIds.filter((_, i) => i % step === 0).slice(0, n);
  const samples: HistoryBreakdown[] = [];
  for (const id of ids) {
    const h = await client.workflow.getHandle(id).fetchHistory();
    samples.push(breakdown(id, h.events ?? []));
  }
  const med = (f: (b: HistoryBreakdown) => number, d = 1) => round(median(samples.map(f)), d);
  const activityNames = [...new Set(samples.flatMap((s) => Object.keys(s.perActivity)))];
  const perActivity: HistorySummary["perActivity"] = {};
  for (const name of activityNames) {
    perActivity[name] = {
      queueMs: med((s) => s.perActivity[name]?.queueMs ?? NaN),
      runMs: med((s) => s.perActivity[name]?.runMs ?? NaN),
    };
  }
  return {
    sampled: samples.length,
    events: med((s) => s.events, 0),
    totalMs: med((s) => s.totalMs),
    workflowTasks: med((s) => s.workflowTasks, 0),
    wftQueueMs: med((s) => s.wftQueueMs),
    wftRunMs: med((s) => s.wftRunMs),
    activities: med((s) => s.activities, 0),
    activityQueueMs: med((s) => s.activityQueueMs),
    activityRunMs: med((s) => s.activityRunMs),
    otherMs: med((s) => s.otherMs),
    timers: med((s) => s.timers, 0),
    markers: med((s) => s.markers, 0),
    perActivity,
    samples,
  };
}
