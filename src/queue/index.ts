// Builds the waiting room and its signing for the API process: the key ring
// (MySQL), the signing pool (Piscina), tokens and the hold gate
// (createAdmission), then the room, the admission ticker and the WatchQueue
// hub (createQueue). app.ts calls both, then start and stop.
import type { MysqlPool } from "../adapters/mysql/pool.js";
import type { RedisClient } from "../adapters/redis/client.js";
import type { Scripts } from "../adapters/redis/scripts.js";
import type { Config } from "../config.js";
import type { AppError } from "../domain/errors.js";
import type { Inventory } from "../events/inventory.js";
import type { Logger } from "../logger.js";
import { signingKeks } from "../signing/keks.js";
import { KeyRing } from "../signing/key-ring.js";
import { SigningPool } from "../signing/pool.js";
import { TokenService } from "../signing/tokens.js";
import { AdmissionTokens, TokenAdmissionGate } from "./admission.js";
import { AdmissionTicker, type ExpiredHoldReclaimer } from "./admission-ticker.js";
import { AdmissionSignals } from "./admission-signals.js";
import { AdaptiveAdmissionController, type RateDecision, type Signals } from "./adaptive-admission.js";
import { QueueWatchHub } from "./queue-watch.js";
import type { SeedLedger } from "./seed-ledger.js";
import { WaitingRoom } from "./waiting-room.js";

/** Admission tokens live at most as long as the longest shopping session (LIMITS.sessionSeconds). */
export const ADMISSION_MAX_TOKEN_SECONDS = 7200;

/**
 * Admission tokens and the gate that checks them on the hold path: the key
 * ring (MySQL) and the signing pool (Piscina). Built before the holds, which
 * pass the gate, and before the waiting room, which issues the tokens.
 */
export function createAdmission(deps: { config: Config; log: Logger; mysql: MysqlPool }) {
  const { config, log } = deps;
  const ring = new KeyRing(
    deps.mysql,
    {
      purpose: "admission",
      maxTokenLifetimeSeconds: ADMISSION_MAX_TOKEN_SECONDS,
      rotateAfterSeconds: config.SIGNING_KEY_ROTATE_SECONDS,
      refreshMs: config.SIGNING_KEY_REFRESH_MS,
      // The API signs admission tokens: it holds their KEKs.
      keks: signingKeks(config, "admission"),
    },
    log,
  );
  const pool = new SigningPool({ threads: config.SIGNING_THREADS });
  const tokens = new TokenService(ring, pool);
  const admission = new AdmissionTokens(tokens);
  return { ring, pool, tokens, admission, gate: new TokenAdmissionGate(admission) };
}

export type Admission = ReturnType<typeof createAdmission>;

export interface QueueDeps {
  config: Config;
  log: Logger;
  scripts: Scripts;
  inventory: Inventory;
  redis: RedisClient;
  admission: Admission;
  /** Frees expired holds (Holds.reclaimExpired) when they are all that keeps an event sold out. */
  reclaim: ExpiredHoldReclaimer;
  missingInventory?: (eventId: string) => Promise<AppError>;
  /** Seed commitments on record outside Redis (WaitingRoomDeps.seedLedger). */
  seedLedger?: SeedLedger;
  /** A waiting room found to have lost its state (metric); logged here too. */
  onStateLost?: (eventId: string) => void;
  /** Every batch of GetQueuePosition polls (metrics): polls in it, buyers it read. */
  onPollBatch?: (polls: number, reads: number) => void;
  /** Adaptive admission's backlog signal: the event's orders PENDING_PAYMENT (OrderStore.pendingCheckouts). */
  checkoutBacklog: (eventId: string) => Promise<number>;
  /** Adaptive admission's current rate of an event as this process last read it; undefined once off (metrics). */
  onAdmissionRate?: (eventId: string, rate: number | undefined) => void;
  /** A rate change this process decided (metrics). */
  onAdmissionRateChange?: (eventId: string, decision: RateDecision, signals: Signals) => void;
}

export function createQueue(deps: QueueDeps) {
  const { config, log } = deps;
  const { ring, pool, admission } = deps.admission;
  const room = new WaitingRoom({
    scripts: deps.scripts,
    inventory: deps.inventory,
    admission,
    options: {
      abandonMs: config.QUEUE_ABANDON_SECONDS * 1000,
      firstHoldGraceMs: config.QUEUE_FIRST_HOLD_GRACE_SECONDS * 1000,
      // Every instance steps each room every QUEUE_TICK_MS: no step for 50 ticks (at least 5 s) means none was running.
      outageMs: Math.max(5_000, 50 * config.QUEUE_TICK_MS),
      rateLimitWindowMs: config.QUEUE_RATE_WINDOW_MS,
      joinLimit: config.QUEUE_JOIN_LIMIT,
      positionLimit: config.QUEUE_POSITION_LIMIT,
      pollBatchMs: config.QUEUE_POLL_BATCH_MS,
    },
    missingInventory: deps.missingInventory,
    onPollBatch: deps.onPollBatch,
    seedLedger: deps.seedLedger,
    onStateLost: (eventId, seedSha256) => {
      log.error(
        { eventId, seedSha256 },
        "waiting room state lost: Redis no longer has the committed seed; its queue calls answer QUEUE_STATE_LOST",
      );
      deps.onStateLost?.(eventId);
    },
  });
  const ticker = new AdmissionTicker({
    redis: deps.redis,
    room,
    reclaim: deps.reclaim,
    log,
    intervalMs: config.QUEUE_TICK_MS,
  });
  // Watching counts as asking: feeds re-read well within the abandon time even when nothing moves.
  const keepAliveMs =
    config.QUEUE_ABANDON_SECONDS > 0 ? Math.max(1000, (config.QUEUE_ABANDON_SECONDS * 1000) / 3) : 60_000;
  const watch = new QueueWatchHub({ room, ticker, log, keepAliveMs });
  // Adaptive admission: every process publishes its signals; whoever takes an interval's lease decides it.
  const signals = new AdmissionSignals(deps.redis, log);
  const adaptive = new AdaptiveAdmissionController({
    redis: deps.redis,
    scripts: deps.scripts,
    log,
    checkoutBacklog: deps.checkoutBacklog,
    events: () => ticker.tracked(),
    onRate: deps.onAdmissionRate,
    onChange: deps.onAdmissionRateChange,
  });
  return {
    ...deps.admission,
    room,
    ticker,
    watch,
    signals,
    adaptive,
    /** Loads (or creates) the key ring and starts stepping admission (adaptive admission with it). */
    async start(): Promise<void> {
      ticker.start();
      signals.start();
      adaptive.start();
      await ring.start().catch((err: unknown) => {
        // MySQL may come up later: the ring's refresh timer keeps trying, and
        // signing answers UNAVAILABLE until then.
        log.warn({ err }, "signing key ring not loaded yet");
        ring.startRefreshing();
      });
    },
    async stop(): Promise<void> {
      ticker.stop();
      adaptive.stop();
      await signals.stop().catch(() => undefined);
      ring.stop();
      await pool.close();
    },
  };
}

export type Queue = ReturnType<typeof createQueue>;
