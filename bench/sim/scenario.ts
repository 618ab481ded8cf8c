// On-sale scenarios: bench/sim/scenarios/<name>.json, validated here (every
// field is documented in bench/sim/README.md). Env overrides for quick tries:
// SIM_BUYERS (buyer count), SIM_MAX_SECONDS (run bound).
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { repoRoot } from "../../tools/devstack/stack.js";

export const SCENARIO_DIR = path.join(repoRoot, "bench", "sim", "scenarios");

const share = z.number().min(0).max(1);
const range = z.object({ min: z.number().min(0), max: z.number().min(0) }).refine((r) => r.max >= r.min, "max < min");

const id16 = z.string().regex(/^[A-Za-z0-9_]{1,16}$/);

const section = z
  .object({
    id: id16,
    name: z.string().optional(),
    priceMinor: z.number().int().min(0),
    /** Reserved rows: `rows` rows of `seatsPerRow` seats, optionally placed on the seat plan (venue-plan.ts). */
    reserved: z
      .object({
        rows: z.number().int().min(1).max(1000),
        seatsPerRow: z.number().int().min(1).max(500),
        plan: z
          .object({
            x: z.number(),
            y: z.number(),
            rotation: z.number().min(-360).max(360).default(0),
            seatSpacing: z.number().positive(),
            rowSpacing: z.number().positive(),
            curve: z.number().min(-360).max(360).default(0),
          })
          .optional(),
      })
      .optional(),
    /** A general-admission area, optionally with its rectangle on the seat plan. */
    generalAdmission: z
      .object({
        capacity: z.number().int().min(1).max(200_000),
        area: z
          .object({
            x: z.number(),
            y: z.number(),
            width: z.number().positive(),
            height: z.number().positive(),
            rotation: z.number().min(-360).max(360).default(0),
          })
          .optional(),
      })
      .optional(),
  })
  .refine(
    (s) => Boolean(s.reserved) !== Boolean(s.generalAdmission),
    "a section is either reserved or generalAdmission",
  );

/**
 * A fault injected while the sale runs, `atSeconds` after the open, lasting
 * `seconds`: a process killed with SIGKILL and started again after that long
 * (api-crash, worker-crash, redis-crash), a store frozen with SIGSTOP and
 * thawed with SIGCONT (redis-stall, mysql-stall, temporal-stall; only stores
 * the simulator started itself), or the Redis Cluster master serving the
 * event killed for good, so that its replica takes over (redis-failover:
 * the old master is started again as a replica once the new one serves and
 * `seconds` have passed). On a cluster the Redis faults act on the master
 * serving the event's slot.
 */
export const faultKinds = [
  "api-crash",
  "worker-crash",
  "redis-crash",
  "redis-stall",
  "redis-failover",
  "mysql-stall",
  "temporal-stall",
] as const;
const fault = z.object({
  atSeconds: z.number().min(0),
  kind: z.enum(faultKinds),
  seconds: z.number().min(0.1).max(600),
});

export const scenarioSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  description: z.string().default(""),
  buyers: z.number().int().min(1).max(2_000_000),
  event: z.object({
    maxTicketsPerBuyer: z.number().int().min(1).max(100).default(6),
    holdTtlSeconds: z.number().int().min(10).max(3600).default(600),
    currencyCode: z.string().length(3).default("EUR"),
    sections: z.array(section).min(1),
    waitingRoom: z
      .object({
        enabled: z.boolean(),
        admissionsPerSecond: z.number().int().min(1).max(10_000).default(100),
        maxShopping: z.number().int().min(1).max(1_000_000).default(1000),
        sessionSeconds: z.number().int().min(60).max(7200).default(600),
        /** Adaptive admission (proto AdaptiveAdmission, camelCase; the server validates it); absent: off. */
        adaptive: z
          .object({
            minAdmissionsPerSecond: z.number().default(0),
            maxAdmissionsPerSecond: z.number().default(0),
            stepPerInterval: z.number().default(0),
            cutFactor: z.number().default(0),
            intervalSeconds: z.number().default(0),
            targetHoldP99Ms: z.number().default(0),
            targetCheckoutBacklog: z.number().default(0),
            targetErrorRatio: z.number().default(0),
          })
          .optional(),
      })
      .default({ enabled: false, admissionsPerSecond: 100, maxShopping: 1000, sessionSeconds: 600 }),
  }),
  arrival: z
    .object({
      /** Share of buyers who join before the sale opens (waiting room on), spread over `preQueueSeconds`. */
      preQueueShare: share.default(0),
      preQueueSeconds: z.number().min(0).default(5),
      /** The rest arrive after the open over `spikeSeconds`, front-loaded: arrival density ∝ exp(-t / spikeDecaySeconds). */
      spikeSeconds: z.number().min(0).default(10),
      spikeDecaySeconds: z.number().min(0.01).default(3),
      /** Most calls starting a buyer (JoinQueue or the first hold) in flight at once; arrivals queue behind it. */
      maxStartsInFlight: z.number().int().min(1).default(256),
    })
    .default({ preQueueShare: 0, preQueueSeconds: 5, spikeSeconds: 10, spikeDecaySeconds: 3, maxStartsInFlight: 256 }),
  buyer: z
    .object({
      /** Tickets wanted: {"1": weight, "2": weight, ...}. */
      tickets: z.record(z.string().regex(/^\d+$/), z.number().min(0)).default({ "2": 1 }),
      /** How a buyer picks: weights of specific seats (from the live map), best available, general admission. */
      choice: z
        .object({
          seats: z.number().min(0).default(0),
          bestAvailable: z.number().min(0).default(0),
          generalAdmission: z.number().min(0).default(0),
        })
        .default({ seats: 0, bestAvailable: 0, generalAdmission: 1 }),
      /** Share of waiting buyers on WatchQueue; the rest poll GetQueuePosition every pollIntervalMs (± 50 %). */
      watchShare: share.default(1),
      pollIntervalMs: z.number().int().min(50).default(2000),
      /** Pause between steps (admitted → hold → order), ms. */
      thinkMs: range.default({ min: 100, max: 1000 }),
      /** Hold attempts before giving up (seats taken, not enough left). */
      holdAttempts: z.number().int().min(1).default(3),
      /** Share of declined buyers who try again (hold + order) while their session lasts. */
      retryAfterDecline: share.default(0.3),
      /** Share of buyers who send CreateOrder twice with the same idempotency key (double click). */
      doubleSubmit: share.default(0.05),
      /** Share of buyers wanting 2+ tickets who hold twice (half each time) and pay for both holds in one order. */
      holdTwice: share.default(0),
    })
    .default({
      tickets: { "2": 1 },
      choice: { seats: 0, bestAvailable: 0, generalAdmission: 1 },
      watchShare: 1,
      pollIntervalMs: 2000,
      thinkMs: { min: 100, max: 1000 },
      holdAttempts: 3,
      retryAfterDecline: 0.3,
      doubleSubmit: 0.05,
      holdTwice: 0,
    }),
  abandon: z
    .object({
      /** Share of buyers who give up while waiting in line, at a uniform time in [0, inQueueWithinSeconds]. */
      inQueue: share.default(0),
      inQueueWithinSeconds: z.number().min(0).default(10),
      /** Share of buyers who give up once admitted, before holding. */
      afterAdmission: share.default(0),
      /** Share of buyers who give up with a hold, before ordering. */
      afterHold: share.default(0),
      /** Of those who give up: share who say so (LeaveQueue / ReleaseHold); the rest just go silent. */
      explicitShare: share.default(0.5),
    })
    .default({ inQueue: 0, inQueueWithinSeconds: 10, afterAdmission: 0, afterHold: 0, explicitShare: 0.5 }),
  refreshStorm: z
    .object({
      /** Share of waiting buyers who hammer GetQueuePosition: `calls` calls every `intervalMs`. */
      share: share.default(0),
      calls: z.number().int().min(1).default(20),
      intervalMs: z.number().int().min(1).default(100),
    })
    .default({ share: 0, calls: 20, intervalMs: 100 }),
  bots: z
    .object({
      /** Share of buyers that are bots. */
      share: share.default(0),
      /** Concurrent hold attempts per bot identity once in (each for maxTicketsPerBuyer). */
      holdsPerIdentity: z.number().int().min(1).default(10),
      /** Bots join this many times (no backoff). */
      joins: z.number().int().min(1).default(5),
      /** Bots poll GetQueuePosition every this many ms, ignoring RetryInfo. */
      pollIntervalMs: z.number().int().min(1).default(50),
      /** Try HoldSeats without an admission token first (the gate must refuse). */
      tryWithoutToken: z.boolean().default(true),
    })
    .default({ share: 0, holdsPerIdentity: 10, joins: 5, pollIntervalMs: 50, tryWithoutToken: true }),
  payment: z
    .object({
      latencyMs: z
        .string()
        .regex(/^\d+(-\d+)?$/)
        .default("20-80"),
      declineRatio: share.default(0.2),
      failureRatio: share.default(0),
      lostResponseRatio: share.default(0),
    })
    .default({ latencyMs: "20-80", declineRatio: 0.2, failureRatio: 0, lostResponseRatio: 0 }),
  /** Faults to inject, by time after the open (see `fault` above). */
  faults: z.array(fault).max(100).default([]),
  /**
   * Run on a Redis Cluster the simulator starts (instead of one Redis):
   * `masters`, `replicas` per master, and `nodeTimeoutMs` (cluster-node-timeout:
   * how long a master may be unreachable before its replica takes over).
   */
  redisCluster: z
    .object({
      masters: z.number().int().min(3).max(16).default(3),
      replicas: z.number().int().min(0).max(2).default(1),
      nodeTimeoutMs: z.number().int().min(500).max(60_000).default(4000),
    })
    .optional(),
  /** Extra env for the API and worker processes the simulator starts (e.g. QUEUE_ABANDON_SECONDS). */
  serverEnv: z.record(z.string(), z.string()).default({}),
  run: z
    .object({
      /** Client channels (HTTP/2 connections) buyers share. */
      channels: z.number().int().min(1).max(256).default(8),
      /** After this many seconds from the open, the sale is closed and the buyers still waiting stop. */
      maxSeconds: z.number().min(1).default(300),
      /** How long the audit waits for checkouts still running to reach a final state. */
      settleSeconds: z.number().min(0).default(120),
      /** Close the sale once every buyer is done (or at maxSeconds). */
      closeSaleAtEnd: z.boolean().default(true),
      /** VerifyTicket on at most this many tickets (0: none). */
      verifyTickets: z.number().int().min(0).default(500),
      /** Deadline of each unary call, ms. */
      callDeadlineMs: z.number().int().min(100).default(30_000),
      /**
       * A call answered UNAVAILABLE (server down or restarting) or
       * DEADLINE_EXCEEDED is sent again, the same request with the same
       * request id or idempotency key, with backoff for up to this long;
       * every attempt is counted.
       */
      unavailableRetrySeconds: z.number().min(0).max(600).default(30),
    })
    .default({
      channels: 8,
      maxSeconds: 300,
      settleSeconds: 120,
      closeSaleAtEnd: true,
      verifyTickets: 500,
      callDeadlineMs: 30_000,
      unavailableRetrySeconds: 30,
    }),
});

export type Scenario = z.infer<typeof scenarioSchema>;
export type SectionSpec = z.infer<typeof section>;

export function scenarioPath(nameOrPath: string): string {
  if (nameOrPath.endsWith(".json") || nameOrPath.includes("/")) return path.resolve(nameOrPath);
  return path.join(SCENARIO_DIR, `${nameOrPath}.json`);
}

export function listScenarios(): string[] {
  try {
    return fs
      .readdirSync(SCENARIO_DIR)
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.replace(/\.json$/, ""))
      .sort();
  } catch {
    return [];
  }
}

/**
 * Parses and validates a scenario; `overrides` win over the file (SIM_BUYERS, SIM_MAX_SECONDS, SIM_RATE: the
 * waiting room's admissions per second, SIM_ADAPTIVE=off: without adaptive admission; from the env by default).
 */
export function parseScenario(raw: unknown, env: NodeJS.ProcessEnv = process.env): Scenario {
  const r = scenarioSchema.safeParse(raw);
  if (!r.success) {
    throw new Error(
      `invalid scenario:\n${r.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`).join("\n")}`,
    );
  }
  const s = r.data;
  if (env.SIM_BUYERS) {
    const n = Number(env.SIM_BUYERS);
    if (!Number.isInteger(n) || n < 1) throw new Error(`SIM_BUYERS=${env.SIM_BUYERS}: not a positive integer`);
    s.buyers = n;
  }
  if (env.SIM_MAX_SECONDS) {
    const n = Number(env.SIM_MAX_SECONDS);
    if (!Number.isFinite(n) || n < 1) throw new Error(`SIM_MAX_SECONDS=${env.SIM_MAX_SECONDS}: not a positive number`);
    s.run.maxSeconds = n;
  }
  // The admission comparison (bench/ADAPTIVE-ADMISSION.md): one scenario at several fixed rates, and adaptive.
  if (env.SIM_RATE) {
    const n = Number(env.SIM_RATE);
    if (!Number.isInteger(n) || n < 1) throw new Error(`SIM_RATE=${env.SIM_RATE}: not a positive integer`);
    s.event.waitingRoom.admissionsPerSecond = n;
  }
  if (env.SIM_ADAPTIVE === "off") delete s.event.waitingRoom.adaptive;
  const c = s.buyer.choice;
  const hasGa = s.event.sections.some((x) => x.generalAdmission);
  const hasReserved = s.event.sections.some((x) => x.reserved);
  if (c.seats + c.bestAvailable + c.generalAdmission <= 0)
    throw new Error("invalid scenario: buyer.choice has no positive weight");
  if (c.generalAdmission > 0 && !hasGa)
    throw new Error("invalid scenario: buyer.choice.generalAdmission > 0 but no generalAdmission section");
  if ((c.seats > 0 || c.bestAvailable > 0) && !hasReserved)
    throw new Error("invalid scenario: seats/bestAvailable choice without a reserved section");
  if (Object.values(s.buyer.tickets).every((w) => w <= 0))
    throw new Error("invalid scenario: buyer.tickets has no positive weight");
  const cluster = s.redisCluster;
  for (const f of s.faults) {
    const at = `faults: ${f.kind} at ${f.atSeconds} s`;
    if (f.kind === "redis-failover" && !cluster?.replicas)
      throw new Error(`invalid scenario: ${at} needs a redisCluster with replicas (one to promote)`);
    // Down for half the node timeout or more, a master risks being failed over: that is redis-failover's job.
    if (
      (f.kind === "redis-stall" || f.kind === "redis-crash") &&
      cluster &&
      f.seconds * 1000 > cluster.nodeTimeoutMs / 2
    )
      throw new Error(
        `invalid scenario: ${at} lasts ${f.seconds} s, more than half of redisCluster.nodeTimeoutMs (${cluster.nodeTimeoutMs} ms): its replica could take over`,
      );
  }
  return s;
}

export function loadScenario(nameOrPath: string, env: NodeJS.ProcessEnv = process.env): Scenario {
  const file = scenarioPath(nameOrPath);
  if (!fs.existsSync(file)) {
    const known = listScenarios();
    throw new Error(`no scenario ${nameOrPath} (${file}); known: ${known.join(", ") || "none"}`);
  }
  return parseScenario(JSON.parse(fs.readFileSync(file, "utf8")), env);
}

/** Capacity by section (reserved: rows × seats). */
export function capacityOf(s: Scenario): { total: number; reserved: number; ga: Record<string, number> } {
  let reserved = 0;
  const ga: Record<string, number> = {};
  for (const sec of s.event.sections) {
    if (sec.reserved) reserved += sec.reserved.rows * sec.reserved.seatsPerRow;
    if (sec.generalAdmission) ga[sec.id] = sec.generalAdmission.capacity;
  }
  return { total: reserved + Object.values(ga).reduce((a, b) => a + b, 0), reserved, ga };
}

/** The env the API needs for this scenario. */
export function apiEnvFor(s: Scenario): Record<string, string> {
  return { ...s.serverEnv };
}

/** The env the worker needs: the payment simulator's knobs, then serverEnv. */
export function workerEnvFor(s: Scenario): Record<string, string> {
  return {
    PAYMENT_SIM_LATENCY_MS: s.payment.latencyMs,
    PAYMENT_SIM_DECLINE_RATIO: String(s.payment.declineRatio),
    PAYMENT_SIM_FAILURE_RATIO: String(s.payment.failureRatio),
    PAYMENT_SIM_LOST_RESPONSE_RATIO: String(s.payment.lostResponseRatio),
    ...s.serverEnv,
  };
}
