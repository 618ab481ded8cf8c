// The seat map buyers look at before picking seats: one WatchSeatMap stream
// for the whole simulation (as a front end would fan one stream out to its
// users), kept current with the deltas, and opened again (a new snapshot)
// when it breaks, as a front end would after a server restart.
import { Metadata } from "@grpc/grpc-js";
import { SeatState } from "../../src/gen/ticketing/v1/common.js";
import type { GetSeatMapResponse, WatchSeatMapResponse } from "../../src/gen/ticketing/v1/event_service.js";
import type { Clients } from "./clients.js";

interface RowMap {
  prefix: string;
  first: number;
  states: string[];
}

export class LiveSeatMap {
  private rows: RowMap[] = [];
  private readonly bySeat = new Map<string, { row: RowMap; i: number }>();
  private stream: ReturnType<Clients["sets"][number]["events"]["watchSeatMap"]> | undefined;
  messages = 0;
  /** Streams opened again after one broke. */
  reconnects = 0;
  private stopped = false;

  constructor(
    private readonly clients: Clients,
    private readonly eventId: string,
  ) {}

  /** Opens the stream; resolves with the first snapshot. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      let first = true;
      const t0 = performance.now();
      const stream = this.clients.sets[0]!.events.watchSeatMap({ eventId: this.eventId }, new Metadata());
      this.stream = stream;
      stream.on("data", (m: WatchSeatMapResponse) => {
        this.messages++;
        if (m.update?.$case === "snapshot") this.load(m.update.value);
        else if (m.update?.$case === "delta") {
          for (const c of m.update.value.seats) {
            const at = this.bySeat.get(c.seatId);
            if (at)
              at.row.states[at.i] =
                c.state === SeatState.SEAT_STATE_FREE ? "F" : c.state === SeatState.SEAT_STATE_SOLD ? "S" : "H";
          }
        }
        if (first) {
          first = false;
          resolve();
        }
      });
      stream.on("error", (err) => {
        if (this.stopped) return;
        this.clients.recordStream("WatchSeatMap", t0, err as never);
        if (first) reject(err);
        else this.reopen();
      });
      stream.on("end", () => {
        if (!this.stopped) this.clients.recordStream("WatchSeatMap", t0, undefined);
      });
    });
  }

  /** After a broken stream: open a new one (its snapshot replaces the map), retrying every second. */
  private reopen(): void {
    const timer = setTimeout(() => {
      if (this.stopped) return;
      this.reconnects++;
      this.start().catch(() => this.reopen());
    }, 1000);
    timer.unref();
  }

  private load(map: GetSeatMapResponse): void {
    this.rows = [];
    this.bySeat.clear();
    for (const s of map.sections) {
      for (const r of s.rows) {
        const row: RowMap = { prefix: `${s.sectionId}-${r.rowId}-`, first: r.firstSeatNumber, states: [...r.states] };
        this.rows.push(row);
        for (let i = 0; i < row.states.length; i++) this.bySeat.set(`${row.prefix}${row.first + i}`, { row, i });
      }
    }
  }

  /** `n` adjacent seats that look free, in a random row; undefined when none found. */
  pick(n: number, rnd: () => number): string[] | undefined {
    if (this.rows.length === 0) return undefined;
    for (let attempt = 0; attempt < 30; attempt++) {
      const row = this.rows[Math.floor(rnd() * this.rows.length)]!;
      const start = Math.floor(rnd() * row.states.length);
      for (let k = 0; k < row.states.length; k++) {
        const i = (start + k) % row.states.length;
        if (i + n > row.states.length) continue;
        let ok = true;
        for (let j = i; j < i + n; j++) if (row.states[j] !== "F") ok = false;
        if (ok) {
          // what the buyer clicked looks held to them from now on
          for (let j = i; j < i + n; j++) row.states[j] = "H";
          return Array.from({ length: n }, (_, j) => `${row.prefix}${row.first + i + j}`);
        }
      }
    }
    return undefined;
  }

  stop(): void {
    this.stopped = true;
    this.stream?.cancel();
  }
}
