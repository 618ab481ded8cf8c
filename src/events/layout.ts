// An event's seat map and sale settings as the hot path needs them: immutable
// after CreateEvent, cached per process, stored in MySQL (truth) and in Redis
// (so the hold path never reads MySQL).

export type SaleState = "SCHEDULED" | "OPEN" | "PAUSED" | "CLOSED";

export interface RowLayout {
  rowId: string;
  firstSeatNumber: number;
  seatCount: number;
  priceCategoryId: string;
  /** Where its seats are on the seat plan (geometry.ts); absent when the event has no plan. */
  placement?: RowPlacement;
}

export interface SectionLayout {
  sectionId: string;
  name: string;
  /** Reserved seating when rows is set; general admission when capacity is. */
  rows?: RowLayout[];
  generalAdmission?: { capacity: number; priceCategoryId: string; area?: Area };
  /** The section's boundary on the seat plan, 3..500 points. */
  outline?: Point[];
}

// ---- the seat plan (coordinates; the proto's Point describes the system) ----

export interface Point {
  x: number;
  y: number;
}

/** A row as a line or arc: its middle, direction, seat spacing and bend (degrees). */
export interface RowPosition {
  x: number;
  y: number;
  rotation: number;
  seatSpacing: number;
  curve: number;
}

export interface SeatPosition {
  seatNumber: number;
  x: number;
  y: number;
  rotation: number;
}

/** The row's line or arc, and seats placed one by one (these win over the line). */
export interface RowPlacement {
  position?: RowPosition;
  seats: SeatPosition[];
}

/** A rectangle centred on (x, y), turned by rotation degrees clockwise. */
export interface Area {
  x: number;
  y: number;
  width: number;
  height: number;
  rotation: number;
}

export interface PriceCategoryLayout {
  priceCategoryId: string;
  name: string;
  priceMinor: number;
}

export interface HoldPolicy {
  ttlSeconds: number;
  maxExtensions: number;
  maxLifetimeSeconds: number;
}

export interface WaitingRoomSettings {
  enabled: boolean;
  /** The fixed rate; with adaptive admission, where the adaptive rate starts. */
  admissionsPerSecond: number;
  maxShopping: number;
  sessionSeconds: number;
  /** Present only while adaptive admission is on (events/adaptive-admission.ts). */
  adaptive?: AdaptiveAdmission;
}

/** AIMD admission (proto AdaptiveAdmission), defaults applied; `enabled` is always true where stored. */
export interface AdaptiveAdmission {
  enabled: boolean;
  minAdmissionsPerSecond: number;
  maxAdmissionsPerSecond: number;
  stepPerInterval: number;
  cutFactor: number;
  intervalSeconds: number;
  targetHoldP99Ms: number;
  targetCheckoutBacklog: number;
  targetErrorRatio: number;
}

/** Everything about an event except its live state. */
export interface EventLayout {
  eventId: string;
  name: string;
  venue: string;
  startTime: Date | undefined;
  saleOpenTime: Date | undefined;
  saleCloseTime: Date | undefined;
  holdPolicy: HoldPolicy;
  maxTicketsPerBuyer: number;
  waitingRoom: WaitingRoomSettings;
  /** Refunds end this many seconds before startTime (0: at the start; no startTime: never). */
  refundCutoffSeconds: number;
  currencyCode: string;
  priceCategories: PriceCategoryLayout[];
  sections: SectionLayout[];
  capacity: number;
  createTime: Date;
}

/**
 * The layout without its seat plan: what Redis and each process's cache keep
 * for the hot path, which never draws (a 50,000-seat plan placed seat by seat
 * would be megabytes in every process). GetEvent reads the plan from MySQL.
 */
export function withoutPlan(layout: EventLayout): EventLayout {
  const planned = layout.sections.some(
    (s) => s.outline || s.generalAdmission?.area || (s.rows ?? []).some((r) => r.placement),
  );
  if (!planned) return layout;
  return {
    ...layout,
    sections: layout.sections.map(({ outline: _outline, ...s }) => ({
      ...s,
      ...(s.generalAdmission
        ? {
            generalAdmission: {
              capacity: s.generalAdmission.capacity,
              priceCategoryId: s.generalAdmission.priceCategoryId,
            },
          }
        : {}),
      ...(s.rows ? { rows: s.rows.map(({ placement: _placement, ...r }) => r) } : {}),
    })),
  };
}

export interface SeatInfo {
  seatId: string;
  sectionId: string;
  rowId: string;
  seatNumber: number;
  priceCategoryId: string;
}

export function seatId(sectionId: string, rowId: string, seatNumber: number): string {
  return `${sectionId}-${rowId}-${seatNumber}`;
}

/** Every seat of a row, in seat-number order. */
export function rowSeatIds(sectionId: string, row: RowLayout): string[] {
  const ids: string[] = [];
  for (let i = 0; i < row.seatCount; i++) ids.push(seatId(sectionId, row.rowId, row.firstSeatNumber + i));
  return ids;
}

export function capacityOf(sections: SectionLayout[]): number {
  let total = 0;
  for (const s of sections) {
    if (s.generalAdmission) total += s.generalAdmission.capacity;
    for (const r of s.rows ?? []) total += r.seatCount;
  }
  return total;
}

/** Lookups over a layout, built once per event per process. */
export class SeatIndex {
  private readonly sections = new Map<string, SectionLayout>();
  private readonly rows = new Map<string, { section: SectionLayout; row: RowLayout }>();
  private readonly longestRows = new Map<string, number>();

  constructor(readonly layout: EventLayout) {
    for (const section of layout.sections) {
      this.sections.set(section.sectionId, section);
      for (const row of section.rows ?? []) this.rows.set(`${section.sectionId}-${row.rowId}`, { section, row });
    }
  }

  section(sectionId: string): SectionLayout | undefined {
    return this.sections.get(sectionId);
  }

  /** The seat named by `section-row-number`, or undefined if the event has no such seat. */
  seat(id: string): SeatInfo | undefined {
    const m = /^([A-Za-z0-9_]{1,16})-([A-Za-z0-9_]{1,16})-(\d{1,6})$/.exec(id);
    if (!m) return undefined;
    const [, sectionId = "", rowId = "", num = ""] = m;
    const found = this.rows.get(`${sectionId}-${rowId}`);
    if (!found) return undefined;
    const seatNumber = Number(num);
    const { row } = found;
    if (String(seatNumber) !== num) return undefined; // no leading zeros: one spelling per seat
    if (seatNumber < row.firstSeatNumber || seatNumber >= row.firstSeatNumber + row.seatCount) return undefined;
    return { seatId: id, sectionId, rowId, seatNumber, priceCategoryId: row.priceCategoryId };
  }

  priceOf(priceCategoryId: string): number {
    return this.layout.priceCategories.find((c) => c.priceCategoryId === priceCategoryId)?.priceMinor ?? 0;
  }

  gaSections(): SectionLayout[] {
    return this.layout.sections.filter((s) => s.generalAdmission);
  }

  /** Seats in the longest row a best-available filter may pick from (0: no such row). */
  longestRow(priceCategoryId: string, sectionId: string): number {
    const filter = bestAvailableFilter(priceCategoryId, sectionId);
    let longest = this.longestRows.get(filter);
    if (longest === undefined) {
      longest = 0;
      for (const section of this.layout.sections) {
        if (sectionId && section.sectionId !== sectionId) continue;
        for (const row of section.rows ?? []) {
          if (!priceCategoryId || row.priceCategoryId === priceCategoryId) longest = Math.max(longest, row.seatCount);
        }
      }
      this.longestRows.set(filter, longest);
    }
    return longest;
  }
}

/**
 * Best available (lua/hold_best_available.lua) picks from the rows of a
 * filter: a price category, a section, both or neither ("" for none).
 */
export function bestAvailableFilter(priceCategoryId: string, sectionId: string): string {
  return `${priceCategoryId}|${sectionId}`;
}

/** Rows per field of the rows hash: a call reads the chunks it needs, not the venue (CHUNK in lua/hold_best_available.lua). */
export const BEST_AVAILABLE_CHUNK = 32;

/**
 * The rows hash for hold_best_available.lua, flat as HSET takes it: for every
 * filter that has reserved rows, its rows in order of preference (layout
 * order: sections, then rows) in chunks, field "<filter>#<chunk>", value
 * "<seatIdPrefix>|<firstSeatNumber>|<seatCount>,...". Each row appears in four
 * filters (all; its category; its section; both), so a stadium of 1,000 rows
 * writes 4,000 entries once, when its inventory is loaded.
 */
export function bestAvailableRowChunks(layout: EventLayout): string[] {
  const byFilter = new Map<string, string[]>();
  const add = (filter: string, entry: string) => {
    let rows = byFilter.get(filter);
    if (!rows) byFilter.set(filter, (rows = []));
    rows.push(entry);
  };
  for (const section of layout.sections) {
    for (const row of section.rows ?? []) {
      const entry = `${section.sectionId}-${row.rowId}-|${row.firstSeatNumber}|${row.seatCount}`;
      add(bestAvailableFilter("", ""), entry);
      add(bestAvailableFilter(row.priceCategoryId, ""), entry);
      add(bestAvailableFilter("", section.sectionId), entry);
      add(bestAvailableFilter(row.priceCategoryId, section.sectionId), entry);
    }
  }
  const fields: string[] = [];
  for (const [filter, rows] of byFilter) {
    for (let i = 0; i * BEST_AVAILABLE_CHUNK < rows.length; i++) {
      fields.push(`${filter}#${i}`, rows.slice(i * BEST_AVAILABLE_CHUNK, (i + 1) * BEST_AVAILABLE_CHUNK).join(","));
    }
  }
  return fields;
}
