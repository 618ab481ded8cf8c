// Times every activity this worker executes, local and normal alike
// (ticketing_activity_seconds by activity type and outcome), as a Temporal
// activity inbound interceptor: no activity knows about it.
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  Next,
  WorkerInterceptors,
} from "@temporalio/worker";
import type { Context } from "@temporalio/activity";
import type { Histogram } from "prom-client";

export function activityMetricsInterceptor(histogram: Histogram<"activity" | "outcome">) {
  return (ctx: Context): { inbound: ActivityInboundCallsInterceptor } => ({
    inbound: {
      async execute(
        input: ActivityExecuteInput,
        next: Next<ActivityInboundCallsInterceptor, "execute">,
      ): Promise<unknown> {
        const end = histogram.startTimer({ activity: ctx.info.activityType });
        try {
          const result = await next(input);
          end({ outcome: "ok" });
          return result;
        } catch (err) {
          end({ outcome: "failed" });
          throw err;
        }
      },
    },
  });
}

/** `interceptors` (e.g. tracing's) with the activity timer added, so that neither replaces the other. */
export function withActivityMetrics(
  interceptors: WorkerInterceptors | undefined,
  histogram: Histogram<"activity" | "outcome">,
): WorkerInterceptors {
  return { ...interceptors, activity: [...(interceptors?.activity ?? []), activityMetricsInterceptor(histogram)] };
}
