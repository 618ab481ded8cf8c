// The example venue files carry a whole seat plan, so a storefront (and the
// demo's SVG) can draw them: every reserved row placed, every seat with a
// position, every standing area with an area or outline. The stadium's file
// is examples/venues/stadium.ts's output, and its bowl is drawable: seats
// never overlap, all face the pitch and none stands on it. (cli.test.ts
// creates each file against the API, whose validation checks the plan too.)
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { stadiumYaml } from "../../examples/venues/stadium.js";
import { rowSeatPlacements, type PlacedSeat } from "../../src/events/geometry.js";
import { readVenueFile } from "../../tools/cli/venue-file.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const EXAMPLES = ["demo.yaml", "theatre.yaml", "stadium.yaml"];

function seatsOf(file: string): { where: string; seat: PlacedSeat | undefined }[] {
  const { request } = readVenueFile(file);
  return request.event!.sections.flatMap((section) =>
    section.layout?.$case === "reserved"
      ? section.layout.value.rows.flatMap((row) =>
          rowSeatPlacements(row).map((seat, i) => ({ where: `${section.sectionId}-${row.rowId}-${i}`, seat })),
        )
      : [],
  );
}

describe("the example venues", () => {
  it.each(EXAMPLES)("%s places every reserved row and every standing area", (name) => {
    const file = path.join(ROOT, "examples/venues", name);
    const { request } = readVenueFile(file);
    const unplaced: string[] = [];
    for (const section of request.event!.sections) {
      const layout = section.layout;
      if (layout?.$case === "reserved") {
        for (const row of layout.value.rows)
          if (!row.placement?.position) unplaced.push(`${section.sectionId} row ${row.rowId}`);
      } else if (!layout?.value.area && !section.outline) unplaced.push(`${section.sectionId} (standing)`);
    }
    expect(unplaced).toEqual([]);
    const seats = seatsOf(file);
    expect(seats.length).toBeGreaterThan(0);
    expect(seats.filter((s) => !s.seat).map((s) => s.where)).toEqual([]);
  });

  it("keeps stadium.yaml the output of examples/venues/stadium.ts", () => {
    expect(readFileSync(path.join(ROOT, "examples/venues/stadium.yaml"), "utf8")).toBe(stadiumYaml());
  });

  it("draws the stadium as a bowl round the pitch: 50,000 seats apart, facing it, none on it", () => {
    const seats = seatsOf(path.join(ROOT, "examples/venues/stadium.yaml")).map((s) => s.seat!);
    expect(seats).toHaveLength(50_000);
    // Seats closer than 0.9 seat spacings (5 decimetres) overlap; compared within a grid of 5 x 5 cells.
    const cell = (v: number) => Math.floor(v / 5);
    const grid = new Map<string, PlacedSeat[]>();
    for (const s of seats) {
      const key = `${cell(s.x)},${cell(s.y)}`;
      grid.set(key, [...(grid.get(key) ?? []), s]);
    }
    let closest = Infinity;
    for (const s of seats)
      for (let dx = -1; dx <= 1; dx++)
        for (let dy = -1; dy <= 1; dy++)
          for (const o of grid.get(`${cell(s.x) + dx},${cell(s.y) + dy}`) ?? [])
            if (o !== s) closest = Math.min(closest, Math.hypot(o.x - s.x, o.y - s.y));
    expect(closest).toBeGreaterThan(4.5);
    // A seat at rotation r faces (sin r, -cos r): towards the centre, where the pitch is.
    const RAD = Math.PI / 180;
    const away = seats.filter((s) => {
      const facing = { x: Math.sin(s.rotation * RAD), y: -Math.cos(s.rotation * RAD) };
      return (facing.x * -s.x + facing.y * -s.y) / Math.hypot(s.x, s.y) < 0.99;
    });
    expect(away).toEqual([]);
    // The pitch: 105 x 68 m (decimetres), centred on (0, 0).
    expect(seats.filter((s) => Math.abs(s.x) <= 525 && Math.abs(s.y) <= 340)).toEqual([]);
  });
});
