// The generated clients over a few shared HTTP/2 connections (many buyers per
// channel keep the client's CPU sane), and one call helper that records the
// latency, code and reason of every call in Metrics, and sends a call again
// while the server answers UNAVAILABLE (down, restarting, shutting down) or
// the deadline passes, as a well-behaved client does: every request carries
// its request id or idempotency key, so a retry can never do the thing twice
// (and a CreateOrder whose answer was lost returns the same order).
import {
  Channel,
  credentials,
  Metadata,
  status,
  type CallOptions,
  type ClientReadableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { EventServiceClient } from "../../src/gen/ticketing/v1/event_service.js";
import { OrderServiceClient } from "../../src/gen/ticketing/v1/order_service.js";
import { QueueServiceClient } from "../../src/gen/ticketing/v1/queue_service.js";
import { ReservationServiceClient } from "../../src/gen/ticketing/v1/reservation_service.js";
import { TicketServiceClient } from "../../src/gen/ticketing/v1/ticket_service.js";
import { decodeStatus, type DecodedStatus } from "../../src/grpc/errors.js";
import { bearerInterceptor, requestTokens } from "../../src/identity/client.js";
import type { LocalIssuer } from "../../src/identity/local-issuer.js";
import type { Metrics } from "./metrics.js";

/** The operator the simulator acts as (the audit line names it). */
const SIM_OPERATOR = "simulator";

export interface ClientSet {
  channel: Channel;
  events: EventServiceClient;
  queue: QueueServiceClient;
  reservations: ReservationServiceClient;
  orders: OrderServiceClient;
  tickets: TicketServiceClient;
}

export class RpcError extends Error {
  override name = "RpcError";
  constructor(
    readonly method: string,
    readonly code: number,
    readonly reason: string | undefined,
    readonly decoded: DecodedStatus,
  ) {
    super(`${method}: ${decoded.message} (${code}${reason ? ` ${reason}` : ""})`);
  }

  /** The server's RetryInfo delay, ms. */
  get retryAfterMs(): number | undefined {
    const d = this.decoded.retryInfo?.retryDelay;
    return d ? Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6) : undefined;
  }
}

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

export class Clients {
  readonly sets: ClientSet[];
  readonly operator = new Metadata();
  private next = 0;

  constructor(
    readonly address: string,
    channels: number,
    issuer: LocalIssuer,
    private readonly metrics: Metrics,
    private readonly deadlineMs: number,
    /** How long a call keeps being retried after UNAVAILABLE or DEADLINE_EXCEEDED (0: never). */
    private readonly unavailableRetryMs = 0,
  ) {
    // Each buyer calls with their own token from the issuer; other calls are the operator's.
    const tokenFor = requestTokens(issuer, SIM_OPERATOR);
    this.operator.set("authorization", `Bearer ${tokenFor({})}`);
    const insecure = credentials.createInsecure();
    const interceptors = [bearerInterceptor(tokenFor)];
    this.sets = Array.from({ length: channels }, (_, i) => {
      const channel = new Channel(address, insecure, {
        "grpc.use_local_subchannel_pool": 1,
        "grpc.keepalive_time_ms": 60_000,
        "grpc.max_receive_message_length": 64 * 1024 * 1024,
        "grpc.primary_user_agent": `ticketing-sim/${i}`,
      });
      const o = { channelOverride: channel, interceptors };
      return {
        channel,
        events: new EventServiceClient(address, insecure, o),
        queue: new QueueServiceClient(address, insecure, o),
        reservations: new ReservationServiceClient(address, insecure, o),
        orders: new OrderServiceClient(address, insecure, o),
        tickets: new TicketServiceClient(address, insecure, o),
      };
    });
  }

  /** Round-robin: a buyer keeps the set it gets. */
  pick(): ClientSet {
    const s = this.sets[this.next]!;
    this.next = (this.next + 1) % this.sets.length;
    return s;
  }

  /**
   * One unary call, recorded under `method` (each attempt); rejects with
   * RpcError. UNAVAILABLE and DEADLINE_EXCEEDED are retried with jittered
   * backoff (100 ms doubling to 2 s, or the server's RetryInfo) for up to
   * `unavailableRetryMs`.
   */
  async call<Req, Res>(
    method: string,
    client: object,
    fn: Unary<Req, Res>,
    request: Req,
    metadata = new Metadata(),
    deadlineMs = this.deadlineMs,
  ): Promise<Res> {
    const giveUpAt = Date.now() + this.unavailableRetryMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(method, client, fn, request, metadata, deadlineMs);
      } catch (err) {
        if (!(err instanceof RpcError) || (err.code !== status.UNAVAILABLE && err.code !== status.DEADLINE_EXCEEDED))
          throw err;
        const delay = err.retryAfterMs || Math.min(2000, 100 * 2 ** attempt) * (0.5 + Math.random());
        if (Date.now() + delay > giveUpAt) throw err;
        this.metrics.retried(method);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private once<Req, Res>(
    method: string,
    client: object,
    fn: Unary<Req, Res>,
    request: Req,
    metadata: Metadata,
    deadlineMs: number,
  ): Promise<Res> {
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      fn.call(client, request, metadata, { deadline: Date.now() + deadlineMs }, (err, res) => {
        const ms = performance.now() - t0;
        if (err) {
          const decoded = decodeStatus(err);
          const reason = decoded.errorInfo?.reason;
          this.metrics.recordCall(method, ms, err.code ?? status.UNKNOWN, reason);
          reject(new RpcError(method, err.code ?? status.UNKNOWN, reason, decoded));
        } else {
          this.metrics.recordCall(method, ms, status.OK);
          resolve(res);
        }
      });
    });
  }

  /** Records a server stream's outcome (time to its end, final code). */
  recordStream(method: string, t0: number, err: ServiceError | undefined): RpcError | undefined {
    const ms = performance.now() - t0;
    if (!err) {
      this.metrics.recordCall(method, ms, status.OK);
      return undefined;
    }
    const decoded = decodeStatus(err);
    const reason = decoded.errorInfo?.reason;
    this.metrics.recordCall(method, ms, err.code ?? status.UNKNOWN, reason);
    return new RpcError(method, err.code ?? status.UNKNOWN, reason, decoded);
  }

  close(): void {
    for (const s of this.sets) {
      s.events.close();
      s.queue.close();
      s.reservations.close();
      s.orders.close();
      s.tickets.close();
      s.channel.close();
    }
  }
}

export type Stream<T> = ClientReadableStream<T>;

export const isCode = (err: unknown, code: number): err is RpcError => err instanceof RpcError && err.code === code;
