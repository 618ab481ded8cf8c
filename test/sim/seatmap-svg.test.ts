// The demo's seat map drawing (bench/sim/seatmap-svg.ts) for the demo
// scenario's venue (its seat plan built by bench/sim/venue-plan.ts): valid
// for CreateEvent, well-formed XML, one element per seat where the shared
// computation puts it, coloured by state. No servers: the states are given.
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { buildEvent } from "../../bench/sim/driver.js";
import { loadScenario } from "../../bench/sim/scenario.js";
import { hasSeatPlan, renderSeatMapSvg, SEAT_COLOURS } from "../../bench/sim/seatmap-svg.js";
import { validateCreateEvent } from "../../src/events/events.js";
import { rowSeatPlacements } from "../../src/events/geometry.js";
import type { GetSeatMapResponse, Section } from "../../src/gen/ticketing/v1/event_service.js";
import { toEventDraft } from "../../src/grpc/services/event-service.js";

const event = buildEvent(loadScenario("demo", {}), "demo-svg");

/** Row r of the stalls: seats 1-3 free, 4-5 held, 6-8 sold, 9-10 free (the last row all sold). */
function seatMap(): GetSeatMapResponse {
  const counts = (capacity: number, held: number, sold: number) => ({
    capacity,
    held,
    sold,
    free: capacity - held - sold,
  });
  return {
    eventId: event.eventId,
    version: "42",
    sections: [
      {
        sectionId: "A",
        rows: ["1", "2", "3", "4"].map((rowId) => ({
          rowId,
          firstSeatNumber: 1,
          states: rowId === "4" ? "SSSSSSSSSS" : "FFFHHSSSFF",
        })),
        counts: counts(40, 6, 19),
      },
      { sectionId: "FLOOR", rows: [], counts: counts(40, 5, 10) },
    ],
  };
}

interface Node {
  [key: string]: unknown;
}

describe("the demo's seat map SVG", () => {
  it("starts from a seat plan CreateEvent accepts", () => {
    expect(hasSeatPlan(event)).toBe(true);
    const { layout } = validateCreateEvent({ requestId: "r1", event: toEventDraft(event) });
    const stalls = layout.sections[0]!;
    expect(stalls.rows).toHaveLength(4);
    expect(stalls.outline!.length).toBeGreaterThanOrEqual(3);
    expect(layout.sections[1]!.generalAdmission!.area).toMatchObject({ width: 900, height: 300 });
    // The rows stay parallel: arcs about one centre, each row's middle rowSpacing behind the one in front.
    const at = stalls.rows!.map((r) => r.placement!.position!);
    for (let k = 1; k < at.length; k++) {
      expect(Math.hypot(at[k]!.x - at[k - 1]!.x, at[k]!.y - at[k - 1]!.y)).toBeCloseTo(95, 6);
      const radius = (p: (typeof at)[number]) => (9 * p.seatSpacing) / ((p.curve * Math.PI) / 180);
      expect(radius(at[k]!) - radius(at[k - 1]!)).toBeCloseTo(95, 6);
    }
    // The outline goes round every seat.
    const ys = stalls.rows!.flatMap((r) => rowSeatPlacements(r).map((p) => p!.y));
    const outlineYs = stalls.outline!.map((p) => p.y);
    expect(Math.min(...outlineYs)).toBeLessThan(Math.min(...ys));
    expect(Math.max(...outlineYs)).toBeGreaterThan(Math.max(...ys));
  });

  it("is well-formed XML with one element per seat, where the plan puts it, coloured by its state", () => {
    const map = seatMap();
    const { svg, seats } = renderSeatMapSvg(event, map);
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(seats).toEqual({ free: 15, held: 6, sold: 19 });

    const doc = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: "",
      isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
    }).parse(svg) as {
      svg: Node[];
    };
    const root = doc.svg[0]!;
    const rects = (root.rect ?? []) as Node[];
    const seatRects = rects.filter((r) => String(r.class).startsWith("seat "));
    expect(seatRects).toHaveLength(40);
    const ids = seatRects.map((r) => String(r["data-seat"]));
    expect(new Set(ids).size).toBe(40);

    const stalls = event.sections[0] as Section & { layout: { $case: "reserved" } };
    const rows = stalls.layout.value.rows;
    for (const r of seatRects) {
      const [, rowId = "", num = ""] = String(r["data-seat"]).split("-");
      const i = Number(num) - 1;
      const state = map.sections[0]!.rows.find((x) => x.rowId === rowId)!.states[i] as "F" | "H" | "S";
      expect(r.fill).toBe(SEAT_COLOURS[state]);
      expect(r.class).toBe(`seat ${{ F: "free", H: "held", S: "sold" }[state]}`);
      // Centred where the shared computation puts the seat, turned by its rotation.
      const p = rowSeatPlacements(rows.find((x) => x.rowId === rowId)!)[i]!;
      const m = /^rotate\(([-\d.]+) ([-\d.]+) ([-\d.]+)\)$/.exec(String(r.transform))!;
      expect(Number(m[1])).toBeCloseTo(p.rotation, 1);
      expect(Number(m[2])).toBeCloseTo(p.x, 1);
      expect(Number(m[3])).toBeCloseTo(p.y, 1);
    }

    // The sections: the stalls' outline, the floor's area, both labelled; the floor's bar by state.
    const polygons = (root.polygon ?? []) as Node[];
    expect(polygons.map((p) => p.class)).toEqual(["section-outline", "ga-area"]);
    const texts = ((root.text ?? []) as Node[]).map((t) => String(t["#text"]));
    expect(texts).toContain("Stalls");
    expect(texts).toContain("Floor: 25 free, 5 held, 10 sold of 40");
    const bar = rects.filter((r) => String(r.class).startsWith("ga-bar "));
    expect(bar.map((r) => [r.class, r.fill])).toEqual([
      ["ga-bar free", SEAT_COLOURS.F],
      ["ga-bar held", SEAT_COLOURS.H],
      ["ga-bar sold", SEAT_COLOURS.S],
    ]);
    const widths = bar.map((r) => Number(r.width));
    expect(widths[0]! / widths[2]!).toBeCloseTo(25 / 10, 1);
  });

  it("escapes names and draws nothing for an event without a plan", () => {
    const named = { ...event, name: `<Tom & "Jerry">` };
    const { svg } = renderSeatMapSvg(named, seatMap());
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg).toContain("&lt;Tom &amp; &quot;Jerry&quot;&gt;");

    const plain = buildEvent(loadScenario("smoke", {}), "no-plan");
    expect(hasSeatPlan(plain)).toBe(false);
    const none = renderSeatMapSvg(plain, seatMap());
    expect(XMLValidator.validate(none.svg)).toBe(true);
    expect(none.seats).toEqual({ free: 0, held: 0, sold: 0 });
  });
});
