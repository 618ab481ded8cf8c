// An event's seat map and sale settings as the hot path needs them: immutable
// after CreateEvent, cached per process, stored in MySQL (truth) and in Redis
// (so the hold path never reads MySQL).

export type SaleState = "SCHEDULED" | "OPEN" | "PAUSED" | "CLOSED";

export interface RowLayout {
  rowId: string;
  firstSeatNumber: number;
  seatCount: number;
  priceCategoryId: string;
}

export interface SectionLayout {
  sectionId: string;
  name: string;
  /** Reserved seating when rows is set; general admission when capacity is. */
  rows?: RowLayout[];
  generalAdmission?: { capacity: number; priceCategoryId: string };
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
  admissionsPerSecond: number;
  maxShopping: number;
  sessionSeconds: number;
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
  currencyCode: string;
  priceCategories: PriceCategoryLayout[];
  sections: SectionLayout[];
  capacity: number;
  createTime: Date;
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
}
