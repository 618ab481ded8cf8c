// The seat plan's computation (src/events/geometry.ts) and CreateEvent's
// checks of it (src/events/seat-plan.ts through validateCreateEvent): pure
// functions, no servers.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/domain/errors.js";
import { type EventDraft, type SectionDraft, validateCreateEvent } from "../../src/events/events.js";
import { areaCorners, rowSeatPlacements, seatOnRow } from "../../src/events/geometry.js";
import { withoutPlan } from "../../src/events/layout.js";

const close = (a: number, b: number, digits = 9) => expect(a).toBeCloseTo(b, digits);

describe("seatOnRow / rowSeatPlacements", () => {
  it("spaces the seats of a straight row evenly about its middle, along its rotation", () => {
    const flat = rowSeatPlacements({
      firstSeatNumber: 1,
      seatCount: 3,
      placement: { position: { x: 100, y: 50, rotation: 0, seatSpacing: 10, curve: 0 }, seats: [] },
    });
    expect(flat).toEqual([
      { seatNumber: 1, x: 90, y: 50, rotation: 0 },
      { seatNumber: 2, x: 100, y: 50, rotation: 0 },
      { seatNumber: 3, x: 110, y: 50, rotation: 0 },
    ]);
    // Rotation is clockwise with y down: 90 runs top to bottom.
    const down = rowSeatPlacements({
      firstSeatNumber: 7,
      seatCount: 2,
      placement: { position: { x: 0, y: 0, rotation: 90, seatSpacing: 4, curve: 0 }, seats: [] },
    });
    expect(down.map((s) => s!.seatNumber)).toEqual([7, 8]);
    close(down[0]!.x, 0);
    close(down[0]!.y, -2);
    close(down[1]!.x, 0);
    close(down[1]!.y, 2);
    expect(down[1]!.rotation).toBe(90);
  });

  it("bends a positive curve's ends forwards (up for a row at 0) and turns its seats towards the middle", () => {
    // 3 seats, 10 apart along a quarter circle: R = 20 / (pi / 2), the ends 45 degrees from the middle.
    const [a, b, c] = rowSeatPlacements({
      firstSeatNumber: 1,
      seatCount: 3,
      placement: { position: { x: 100, y: 50, rotation: 0, seatSpacing: 10, curve: 90 }, seats: [] },
    }) as { x: number; y: number; rotation: number }[];
    const R = 20 / (Math.PI / 2);
    close(b!.x, 100);
    close(b!.y, 50);
    close(a!.x, 100 - R * Math.sin(Math.PI / 4));
    close(c!.x, 100 + R * Math.sin(Math.PI / 4));
    close(a!.y, 50 - R * (1 - Math.cos(Math.PI / 4)));
    close(c!.y, a!.y);
    expect(a!.y).toBeLessThan(50); // the ends rise
    close(a!.rotation, 45);
    close(c!.rotation, -45);
    // A negative curve mirrors it: the ends drop.
    const neg = seatOnRow({ x: 100, y: 50, rotation: 0, seatSpacing: 10, curve: -90 }, 3, 0);
    close(neg.x, a!.x);
    close(neg.y, 50 + R * (1 - Math.cos(Math.PI / 4)));
    close(neg.rotation, -45);
  });

  it("puts every seat of an arc on one circle, adjacent seats the same distance apart (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 60 }),
        fc.double({ min: -500, max: 500, noNaN: true }),
        fc.double({ min: -500, max: 500, noNaN: true }),
        fc.double({ min: -360, max: 360, noNaN: true }),
        fc.double({ min: 0.5, max: 100, noNaN: true }),
        fc.double({ min: -360, max: 360, noNaN: true }).filter((c) => Math.abs(c) > 0.01),
        (n, x, y, rotation, seatSpacing, curve) => {
          const seats = rowSeatPlacements({
            firstSeatNumber: 1,
            seatCount: n,
            placement: { position: { x, y, rotation, seatSpacing, curve }, seats: [] },
          }) as { x: number; y: number; rotation: number }[];
          const R = ((n - 1) * seatSpacing) / ((curve * Math.PI) / 180);
          const r = (rotation * Math.PI) / 180;
          // The circle's centre: R behind the middle of the row (against v = u turned clockwise).
          const ox = x - R * -Math.sin(r);
          const oy = y - R * Math.cos(r);
          const d = (p: { x: number; y: number }, q: { x: number; y: number }) => Math.hypot(p.x - q.x, p.y - q.y);
          const tol = 1e-6 * Math.max(1, Math.abs(R));
          for (const s of seats) expect(Math.abs(d(s, { x: ox, y: oy }) - Math.abs(R))).toBeLessThan(tol);
          const gap = d(seats[0]!, seats[1]!);
          for (let i = 2; i < n; i++) expect(Math.abs(d(seats[i - 1]!, seats[i]!) - gap)).toBeLessThan(tol);
          // From the first seat to the last the row turns through the curve.
          expect(Math.abs(seats[0]!.rotation - seats[n - 1]!.rotation - curve)).toBeLessThan(1e-6);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("tends to the straight row as the curve tends to 0", () => {
    const p = { x: 3, y: 4, rotation: 30, seatSpacing: 5, curve: 0 };
    for (let i = 0; i < 8; i++) {
      const straight = seatOnRow(p, 8, i);
      const bent = seatOnRow({ ...p, curve: 1e-7 }, 8, i);
      close(bent.x, straight.x, 5);
      close(bent.y, straight.y, 5);
    }
  });

  it("takes a seat's own position over the row's, and leaves unplaced seats undefined", () => {
    const row = {
      firstSeatNumber: 10,
      seatCount: 3,
      placement: {
        position: { x: 0, y: 0, rotation: 0, seatSpacing: 1, curve: 0 },
        seats: [{ seatNumber: 11, x: 7, y: 8, rotation: 15 }],
      },
    };
    expect(rowSeatPlacements(row)).toEqual([
      { seatNumber: 10, x: -1, y: 0, rotation: 0 },
      { seatNumber: 11, x: 7, y: 8, rotation: 15 },
      { seatNumber: 12, x: 1, y: 0, rotation: 0 },
    ]);
    expect(rowSeatPlacements({ ...row, placement: { seats: row.placement.seats } })).toEqual([
      undefined,
      { seatNumber: 11, x: 7, y: 8, rotation: 15 },
      undefined,
    ]);
    expect(rowSeatPlacements({ firstSeatNumber: 1, seatCount: 2 })).toEqual([undefined, undefined]);
  });

  it("turns an area's corners about its centre", () => {
    const corners = areaCorners({ x: 10, y: 20, width: 4, height: 2, rotation: 90 });
    const expected = [
      [11, 18],
      [11, 22],
      [9, 22],
      [9, 18],
    ];
    corners.forEach((c, i) => {
      close(c.x, expected[i]![0]!);
      close(c.y, expected[i]![1]!);
    });
  });
});

// ---- validation --------------------------------------------------------------

const pos = (o: Partial<{ x: number; y: number; rotation: number; seatSpacing: number; curve: number }> = {}) => ({
  x: 0,
  y: 0,
  rotation: 0,
  seatSpacing: 10,
  curve: 0,
  ...o,
});

function draft(sections: SectionDraft[]): EventDraft {
  return {
    eventId: "",
    name: "Plan night",
    venue: "Hall",
    maxTicketsPerBuyer: 0,
    currencyCode: "EUR",
    priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: "1000" }],
    sections,
  };
}

/** A (rows 1 and 2 of 4 seats), FLOOR (GA 50): every row positioned, the floor with an area. */
function planned(): SectionDraft[] {
  return [
    {
      sectionId: "A",
      name: "Stalls",
      reserved: {
        rows: [
          {
            rowId: "1",
            firstSeatNumber: 1,
            seatCount: 4,
            priceCategoryId: "std",
            placement: { position: pos(), seats: [] },
          },
          {
            rowId: "2",
            firstSeatNumber: 1,
            seatCount: 4,
            priceCategoryId: "std",
            placement: { position: pos({ y: 12, curve: 20 }), seats: [] },
          },
        ],
      },
      outline: {
        points: [
          { x: -30, y: -10 },
          { x: 30, y: -10 },
          { x: 30, y: 20 },
          { x: -30, y: 20 },
        ],
      },
    },
    {
      sectionId: "FLOOR",
      name: "Floor",
      generalAdmission: {
        capacity: 50,
        priceCategoryId: "std",
        area: { x: 0, y: -40, width: 60, height: 20, rotation: 0 },
      },
    },
  ];
}

function violations(sections: SectionDraft[]): { field: string; description: string }[] {
  try {
    validateCreateEvent({ requestId: "r1", event: draft(sections) });
  } catch (err) {
    if (err instanceof AppError) return err.fieldViolations ?? [];
    throw err;
  }
  return [];
}

describe("CreateEvent's seat plan checks", () => {
  it("accepts a whole plan and keeps exactly what was given", () => {
    const { layout } = validateCreateEvent({ requestId: "r1", event: draft(planned()) });
    expect(layout.sections[0]!.rows![1]!.placement).toEqual({ position: pos({ y: 12, curve: 20 }), seats: [] });
    expect(layout.sections[0]!.outline).toHaveLength(4);
    expect(layout.sections[1]!.generalAdmission!.area).toEqual({ x: 0, y: -40, width: 60, height: 20, rotation: 0 });
    // What Redis keeps has none of it; the rest is the same.
    const lean = withoutPlan(layout);
    expect(JSON.stringify(lean)).not.toMatch(/placement|outline|area/);
    expect(lean.sections[0]!.rows!.map((r) => r.seatCount)).toEqual([4, 4]);
    expect(lean.sections[1]!.generalAdmission).toEqual({ capacity: 50, priceCategoryId: "std" });
  });

  it("hashes a request without a plan as it did before plans existed", () => {
    const plain = planned().map((s): SectionDraft => {
      const { outline: _o, ...rest } = s;
      return {
        ...rest,
        ...(s.reserved ? { reserved: { rows: s.reserved.rows.map(({ placement: _p, ...r }) => r) } } : {}),
        ...(s.generalAdmission ? { generalAdmission: { capacity: 50, priceCategoryId: "std" } } : {}),
      };
    });
    const { layout } = validateCreateEvent({ requestId: "r1", event: draft(plain) });
    expect(JSON.stringify(layout)).not.toMatch(/placement|outline|area/);
    expect(withoutPlan(layout)).toBe(layout);
  });

  it("names the exact field of each bad number", () => {
    const s = planned();
    const rows = s[0]!.reserved!.rows;
    rows[0]!.placement!.position = pos({ x: Number.NaN, rotation: 400, curve: -361, seatSpacing: 0 });
    rows[1]!.placement!.position = pos({ y: Number.POSITIVE_INFINITY, seatSpacing: 20_000 });
    s[0]!.outline!.points[2] = { x: 2_000_000, y: 0 };
    s[1]!.generalAdmission!.area = { x: 0, y: 0, width: 0, height: -1, rotation: -720 };
    expect(violations(s).map((v) => v.field)).toEqual([
      "event.sections[0].outline.points[2].x",
      "event.sections[0].reserved.rows[0].placement.position.x",
      "event.sections[0].reserved.rows[0].placement.position.rotation",
      "event.sections[0].reserved.rows[0].placement.position.curve",
      "event.sections[0].reserved.rows[0].placement.position.seat_spacing",
      "event.sections[0].reserved.rows[1].placement.position.y",
      "event.sections[0].reserved.rows[1].placement.position.seat_spacing",
      "event.sections[1].general_admission.area.width",
      "event.sections[1].general_admission.area.height",
      "event.sections[1].general_admission.area.rotation",
    ]);
  });

  it("needs 3..500 outline points", () => {
    const s = planned();
    s[0]!.outline!.points = s[0]!.outline!.points.slice(0, 2);
    s[1]!.outline = { points: Array.from({ length: 501 }, (_, i) => ({ x: i, y: i % 2 })) };
    const v = violations(s);
    expect(v.map((x) => x.field)).toEqual(["event.sections[0].outline.points", "event.sections[1].outline.points"]);
    expect(v[0]!.description).toMatch(/3\.\.500 points/);
  });

  it("places only seats that exist, each once, and every seat of a row without a position", () => {
    const s = planned();
    const rows = s[0]!.reserved!.rows;
    rows[0]!.placement!.seats = [
      { seatNumber: 2, x: 1, y: 1, rotation: 0 },
      { seatNumber: 5, x: 1, y: 1, rotation: 0 },
      { seatNumber: 2, x: 2, y: 2, rotation: 0 },
    ];
    rows[1]!.placement = { seats: [{ seatNumber: 3, x: 1, y: 1, rotation: 0 }] };
    const v = violations(s);
    expect(v.map((x) => x.field)).toEqual([
      "event.sections[0].reserved.rows[0].placement.seats[1].seat_number",
      "event.sections[0].reserved.rows[0].placement.seats[2].seat_number",
      "event.sections[0].reserved.rows[1].placement.seats",
    ]);
    expect(v[0]!.description).toBe("seat 5 is not in the row (seats 1..4)");
    expect(v[1]!.description).toBe("seat 2 is placed twice");
    expect(v[2]!.description).toMatch(/missing seat 1, 2, 4$/);
    // Listing every seat is a whole placement without a position.
    rows[0]!.placement!.seats = [];
    rows[1]!.placement = { seats: [1, 2, 3, 4].map((n) => ({ seatNumber: n, x: n, y: 12, rotation: 0 })) };
    expect(violations(s)).toEqual([]);
  });

  it("is all or nothing: with any coordinates, every row and general-admission section needs them", () => {
    const s = planned();
    delete s[0]!.reserved!.rows[1]!.placement;
    delete s[1]!.generalAdmission!.area;
    expect(violations(s).map((x) => x.field)).toEqual([
      "event.sections[0].reserved.rows[1].placement",
      "event.sections[1].general_admission.area",
    ]);
    // An outline stands in for a general-admission area.
    s[0]!.reserved!.rows[1]!.placement = { position: pos({ y: 12 }), seats: [] };
    s[1]!.outline = { points: areaCorners({ x: 0, y: -40, width: 60, height: 20, rotation: 0 }) };
    expect(violations(s)).toEqual([]);
  });

  it("refuses a row whose line or arc runs off the plan", () => {
    const s = planned();
    s[0]!.reserved!.rows[0]!.placement!.position = pos({ x: 999_990, seatSpacing: 10 });
    const v = violations(s);
    expect(v.map((x) => x.field)).toEqual(["event.sections[0].reserved.rows[0].placement.position"]);
    expect(v[0]!.description).toMatch(/^puts seat 4 at \(1000005, 0\)/);
  });

  it("lets a one-seat row go without a spacing", () => {
    const s = planned();
    const row = s[0]!.reserved!.rows[0]!;
    row.seatCount = 1;
    row.placement!.position = pos({ seatSpacing: 0, curve: 30 });
    expect(violations(s)).toEqual([]);
  });
});
