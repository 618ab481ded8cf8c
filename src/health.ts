// Per-service health: each gRPC service is SERVING only while every store it
// needs answers. The overall ("") status says the process itself serves; it
// turns NOT_SERVING at shutdown so load balancers drain it first.
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import type { Logger } from "./logger.js";

export type Dependency = "redis" | "mysql" | "temporal";

/** Which stores each service needs to answer. */
export const SERVICE_DEPENDENCIES: Record<string, Dependency[]> = {
  "ticketing.v1.EventService": ["mysql", "redis"],
  "ticketing.v1.QueueService": ["redis"],
  "ticketing.v1.ReservationService": ["redis"],
  "ticketing.v1.OrderService": ["mysql", "redis", "temporal"],
  "ticketing.v1.TicketService": ["mysql"],
};

export type Probe = () => Promise<unknown>;

export class HealthMonitor {
  readonly implementation = new HealthImplementation({ "": "SERVING" });
  private readonly up = new Map<Dependency, boolean>();
  private timer: NodeJS.Timeout | undefined;
  private shuttingDown = false;

  constructor(
    private readonly probes: Record<Dependency, Probe>,
    private readonly log: Logger,
    private readonly timeoutMs = 1500,
  ) {
    for (const service of Object.keys(SERVICE_DEPENDENCIES)) this.implementation.setStatus(service, "UNKNOWN");
  }

  /** Probes now, then every intervalMs. */
  async start(intervalMs: number): Promise<void> {
    await this.probeAll();
    this.timer = setInterval(() => void this.probeAll(), intervalMs);
    this.timer.unref();
  }

  isUp(dependency: Dependency): boolean {
    return this.up.get(dependency) === true;
  }

  /** Everything NOT_SERVING; probes stop. */
  shutdown(): void {
    this.shuttingDown = true;
    if (this.timer) clearInterval(this.timer);
    this.implementation.setStatus("", "NOT_SERVING");
    for (const service of Object.keys(SERVICE_DEPENDENCIES)) this.implementation.setStatus(service, "NOT_SERVING");
  }

  async probeAll(): Promise<void> {
    const entries = Object.entries(this.probes) as [Dependency, Probe][];
    await Promise.all(
      entries.map(async ([name, probe]) => {
        const ok = await withTimeout(probe(), this.timeoutMs).then(
          () => true,
          () => false,
        );
        if (this.up.get(name) !== ok)
          this.log[ok ? "info" : "warn"]({ dependency: name, up: ok }, "dependency state changed");
        this.up.set(name, ok);
      }),
    );
    if (this.shuttingDown) return;
    for (const [service, deps] of Object.entries(SERVICE_DEPENDENCIES)) {
      const status: ServingStatus = deps.every((d) => this.up.get(d)) ? "SERVING" : "NOT_SERVING";
      this.implementation.setStatus(service, status);
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("probe timed out")), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
