// A Redis Cluster failover mid-sale: 3 masters with a replica each, buyers
// holding and releasing seats, and the master that holds the event killed
// with SIGKILL. While its replica takes over, a refused call answers
// UNAVAILABLE (with RetryInfo), never INTERNAL or UNKNOWN; once the cluster
// is ok again, calls succeed. The window (first to last refusal) is printed.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Metadata, status, type CallOptions, type ServiceError } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeStatus } from "../../src/grpc/errors.js";
import { redisCommand, startRedisCluster, type RedisClusterHandle } from "../../tools/devstack/stack.js";
import { startTestApp, uid, type TestApp } from "../support/app.js";
import { openSaleEvent } from "../support/checkout.js";

let dir: string;
let cluster: RedisClusterHandle;
let t: TestApp;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ticketing-failover-"));
  cluster = await startRedisCluster({ dir, masters: 3, replicas: 1, nodeTimeoutMs: 2000 });
  t = await startTestApp({ REDIS_CLUSTER_NODES: cluster.nodesEnv });
}, 120_000);
afterAll(async () => {
  await t?.stop();
  await cluster?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The client port of the master serving `slot` now. */
async function masterOf(slot: number, askPort: number): Promise<number> {
  const node = new Redis(askPort, "127.0.0.1", { lazyConnect: true });
  try {
    const ranges = (await node.call("CLUSTER", "SLOTS")) as [number, number, [string, number]][];
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    if (!range) throw new Error(`no node serves slot ${slot}`);
    return Number(range[2][1]);
  } finally {
    node.disconnect();
  }
}

/** A unary call with a deadline: a call that hangs is a failure too (DEADLINE_EXCEEDED), not a stuck loop. */
function call<Req, Res>(
  client: object,
  method: (
    req: Req,
    md: Metadata,
    opts: Partial<CallOptions>,
    cb: (err: ServiceError | null, res: Res) => void,
  ) => unknown,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, new Metadata(), { deadline: Date.now() + 5000 }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

interface Outcome {
  atMs: number;
  code: status | "ok";
  reason?: string | undefined;
  retryInfo: boolean;
}

describe("a Redis Cluster failover mid-sale", () => {
  it("answers UNAVAILABLE while the replica takes over, never INTERNAL, then serves again", async () => {
    const eventId = await openSaleEvent(t, { maxTicketsPerBuyer: 20 });
    const slot = Number(await redisCommand(cluster.nodes[0]!.port, ["CLUSTER", "KEYSLOT", `{ev:${eventId}}`]));
    const victim = await masterOf(slot, cluster.nodes[0]!.port);
    const survivor = cluster.nodes.find((n) => n.port !== victim)!.port;

    const outcomes: Outcome[] = [];
    /** One call's outcome, recorded; its result, or undefined when refused. */
    const record = async <T>(work: () => Promise<T>): Promise<T | undefined> => {
      try {
        const result = await work();
        outcomes.push({ atMs: Date.now(), code: "ok", retryInfo: false });
        return result;
      } catch (err) {
        const d = decodeStatus(err as ServiceError);
        outcomes.push({ atMs: Date.now(), code: d.code, reason: d.errorInfo?.reason, retryInfo: !!d.retryInfo });
        return undefined;
      }
    };
    const lostHolds: string[] = [];
    let running = true;
    // Four buyers, each holding and releasing a seat of its own, over and over;
    // a refused release is retried (as a client retries UNAVAILABLE) before the next hold.
    const loops = [1, 2, 3, 4].map(async (n) => {
      const buyerId = uid(`fo${n}`);
      while (running) {
        const held = await record(() =>
          call(t.reservations, t.reservations.holdSeats, {
            eventId,
            buyerId,
            admissionToken: "",
            requestId: uid("r"),
            selection: { $case: "seats", value: { seatIds: [`A-1-${n}`] } },
          }),
        );
        const release = { eventId, holdId: held?.hold?.holdId ?? "", buyerId, requestId: uid("rel") };
        while (held && running) {
          const released = await record(() => call(t.reservations, t.reservations.releaseHold, release));
          if (released) break;
          const last = outcomes[outcomes.length - 1]!;
          // Acknowledged just before the kill and not yet replicated: gone with the old master.
          if (last.reason === "HOLD_NOT_FOUND") {
            lostHolds.push(release.holdId);
            outcomes.pop();
            break;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    const oks = () => outcomes.filter((o) => o.code === "ok").length;
    const waitFor = async (what: string, done: () => boolean | Promise<boolean>) => {
      const deadline = Date.now() + 90_000;
      while (!(await done())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await waitFor("calls to succeed before the kill", () => oks() >= 20);
      const killedAt = Date.now();
      process.kill(cluster.processes.get(victim)!.pid, "SIGKILL");
      await waitFor(
        "the replica to take over",
        async () =>
          /cluster_state:ok/.test(await redisCommand(survivor, ["CLUSTER", "INFO"]).catch(() => "")) &&
          (await masterOf(slot, survivor).catch(() => victim)) !== victim,
      );
      const recoveredAt = Date.now();
      await waitFor("calls to succeed after the failover", () =>
        outcomes.some((o) => o.code === "ok" && o.atMs > recoveredAt),
      );
      const refused = outcomes.filter((o) => o.code !== "ok");
      const window = refused.length > 0 ? refused[refused.length - 1]!.atMs - refused[0]!.atMs : 0;
      console.log(
        `failover: master :${victim} killed; replica promoted after ${recoveredAt - killedAt} ms; ` +
          `${refused.length} calls refused over ${window} ms; ${oks()} succeeded; ` +
          `${lostHolds.length} acknowledged holds lost with the old master`,
      );
      expect(
        refused.map((o) => `${o.code} ${o.reason}`).filter((c) => !c.startsWith(`${status.UNAVAILABLE} `)),
      ).toEqual([]);
      expect(refused.every((o) => o.retryInfo)).toBe(true);
    } finally {
      running = false;
      await Promise.all(loops);
    }
  }, 180_000);
});
