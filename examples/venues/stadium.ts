// Writes examples/venues/stadium.yaml, the 50,000-seat example stadium, with
// its seat plan: a round bowl of 40 blocks (four stands of ten) around the
// pitch, each block 25 rows of 50 seats on arcs about the pitch's centre, so
// every seat faces the pitch. The YAML is this script's output (one row a
// line, so Prettier leaves it alone: .prettierignore): change the script,
// then run it; test/cli/venue-examples.test.ts checks the two agree.
//   node --import tsx examples/venues/stadium.ts
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { reservedPlan } from "../../bench/sim/venue-plan.js";

/** Plan units are decimetres; the pitch (105 x 68 m) lies in the middle, centred on (0, 0). */
const SEAT_SPACING = 5;
const ROW_SPACING = 8;
const ROWS = 25;
const SEATS_PER_ROW = 50;
/** Rows 1..12 are the lower tier, the rest the upper. */
const LOWER_ROWS = 12;
const STANDS = ["N", "E", "S", "W"] as const;
const BLOCKS_PER_STAND = 10;
const BLOCK_DEGREES = 360 / (STANDS.length * BLOCKS_PER_STAND);
/**
 * The first row's distance from the centre: where a block's first row
 * (49 spacings) plus an aisle of about two seats fills its 9 degrees.
 */
const FIRST_ROW_RADIUS = 1650;

const RAD = Math.PI / 180;
const num = (v: number) => String(Math.round(v * 1000) / 1000);

/** Block b (0..39) clockwise from the north stand's left end (north at the top, y down). */
function block(b: number): string[] {
  const stand = STANDS[Math.floor(b / BLOCKS_PER_STAND)]!;
  const k = (b % BLOCKS_PER_STAND) + 1;
  // The block's middle, in degrees clockwise from +x: the north stand spans -135..-45.
  const angle = -135 + (b + 0.5) * BLOCK_DEGREES;
  const length = (SEATS_PER_ROW - 1) * SEAT_SPACING;
  const { positions, outline } = reservedPlan(
    {
      x: FIRST_ROW_RADIUS * Math.cos(angle * RAD),
      y: FIRST_ROW_RADIUS * Math.sin(angle * RAD),
      // The row runs so that its seats face the centre (a seat faces 90 degrees counter-clockwise of its row).
      rotation: angle - 90,
      seatSpacing: SEAT_SPACING,
      rowSpacing: ROW_SPACING,
      curve: length / FIRST_ROW_RADIUS / RAD,
    },
    ROWS,
    SEATS_PER_ROW,
  );
  return [
    `    - section_id: ${stand}${String(k).padStart(2, "0")}`,
    `      name: Stand ${stand}, block ${k}`,
    "      outline:",
    "        points:",
    ...outline.map((p) => `          - { x: ${num(p.x)}, y: ${num(p.y)} }`),
    "      reserved:",
    "        rows:",
    ...positions.map((p, r) => {
      const position = `{ x: ${num(p.x)}, y: ${num(p.y)}, rotation: ${num(p.rotation)}, seat_spacing: ${SEAT_SPACING}, curve: ${num(p.curve)} }`;
      const price = r < LOWER_ROWS ? "lower" : "upper";
      return `          - { row_id: "${r + 1}", seat_count: ${SEATS_PER_ROW}, price_category_id: ${price}, placement: { position: ${position} } }`;
    }),
  ];
}

export function stadiumYaml(): string {
  return [
    "# A 50,000-seat stadium: four stands of ten blocks, 25 rows of 50 seats each,",
    "#   npm run ticketing -- event create --file examples/venues/stadium.yaml",
    "# The file is a CreateEventRequest (proto/ticketing/v1/event_service.proto)",
    "# with the proto's field names. Written out row by row: the format has no",
    "# shorthand, so what the file says is what the API gets.",
    "# Written by examples/venues/stadium.ts (a round bowl around the pitch, in",
    "# decimetres, centred on (0, 0), north at the top): edit that, not this file.",
    "event:",
    "  event_id: stadium-final-2026",
    "  name: Cup final",
    "  venue: National Stadium",
    '  start_time: "2026-05-30T19:00:00Z"',
    "  currency_code: EUR",
    "  max_tickets_per_buyer: 4",
    "  waiting_room:",
    "    enabled: true",
    "    admissions_per_second: 500",
    "    max_shopping: 20000",
    "    session_seconds: 600",
    "  price_categories:",
    "    - { price_category_id: lower, name: Lower tier, price_minor: 12000 }",
    "    - { price_category_id: upper, name: Upper tier, price_minor: 6500 }",
    "  sections:",
    ...Array.from({ length: STANDS.length * BLOCKS_PER_STAND }, (_, b) => block(b)).flat(),
    "",
  ].join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const file = new URL("./stadium.yaml", import.meta.url);
  writeFileSync(file, stadiumYaml());
  process.stdout.write(`wrote ${file.pathname}\n`);
}
