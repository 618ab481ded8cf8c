// The benchmark baseline is served only when asked for.
import { authInterceptor } from "../support/identity.js";
import { credentials, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { NoopServiceClient } from "../../src/gen/ticketing/bench/v1/noop_service.js";
import { BENCH_EVAL_KEY } from "../../src/adapters/redis/keys.js";
import { call, startTestApp } from "../support/app.js";

describe("NoopService", () => {
  it("answers through the pipeline with BENCH_NOOP=on and does not exist otherwise", async () => {
    const on = await startTestApp({ BENCH_NOOP: "on" });
    const off = await startTestApp();
    const onClient = new NoopServiceClient(on.address, credentials.createInsecure(), {
      interceptors: [authInterceptor],
    });
    const offClient = new NoopServiceClient(off.address, credentials.createInsecure(), {
      interceptors: [authInterceptor],
    });
    try {
      expect(await call(onClient, onClient.noop, { payload: "x" })).toEqual({});
      // Eval runs its one script for real: the counter moves by one per call.
      const before = Number((await on.app.redis.get(BENCH_EVAL_KEY)) ?? 0);
      await Promise.all([1, 2, 3].map(() => call(onClient, onClient.eval, { payload: "x" })));
      expect(Number(await on.app.redis.get(BENCH_EVAL_KEY))).toBe(before + 3);
      const err = await call(offClient, offClient.noop, { payload: "x" }).catch((e: { code: number }) => e);
      expect((err as { code: number }).code).toBe(status.UNIMPLEMENTED);
    } finally {
      onClient.close();
      offClient.close();
      await on.stop();
      await off.stop();
    }
  });

  it("serves without a token only in the unauthenticated bench baseline, where every call acts as operator 'bench'", async () => {
    const baseline = await startTestApp({ BENCH_NOOP: "on", BENCH_AUTH_BASELINE: "on" });
    const normal = await startTestApp({ BENCH_NOOP: "on" });
    const baselineClient = new NoopServiceClient(baseline.address, credentials.createInsecure());
    const normalClient = new NoopServiceClient(normal.address, credentials.createInsecure());
    try {
      expect(await call(baselineClient, baselineClient.noop, { payload: "x" })).toEqual({});
      const err = await call(normalClient, normalClient.noop, { payload: "x" }).catch((e: { code: number }) => e);
      expect((err as { code: number }).code).toBe(status.UNAUTHENTICATED);
    } finally {
      baselineClient.close();
      normalClient.close();
      await baseline.stop();
      await normal.stop();
    }
  });
});
