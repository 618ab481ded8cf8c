// A scenario section's seat plan (bench/sim/README.md, `plan` and `area`)
// turned into the proto's coordinates: `rows` rows of `seatsPerRow` seats,
// the first row's middle at (x, y), each further row rowSpacing behind the
// one before (away from where the seats face), all on arcs about one centre
// when curve is not 0 (so the rows stay parallel), and an outline around them.
import { seatOnRow, type RowPositionLike } from "../../src/events/geometry.js";
import type { Point, RowPosition } from "../../src/gen/ticketing/v1/event_service.js";

export interface ReservedPlan {
  x: number;
  y: number;
  rotation: number;
  seatSpacing: number;
  rowSpacing: number;
  /** The first row's curve (degrees); the rows behind it keep its centre. */
  curve: number;
}

const RAD = Math.PI / 180;

/** Row k of the plan (k may be fractional: the outline's edges are half a row out). */
function rowAt(plan: ReservedPlan, seatsPerRow: number, k: number): RowPositionLike {
  const r = plan.rotation * RAD;
  const v = { x: -Math.sin(r), y: Math.cos(r) }; // behind the row: where its seats' backs are
  const middle = { x: plan.x + k * plan.rowSpacing * v.x, y: plan.y + k * plan.rowSpacing * v.y };
  const length = (seatsPerRow - 1) * plan.seatSpacing;
  if (plan.curve === 0 || length === 0)
    return { ...middle, rotation: plan.rotation, seatSpacing: plan.seatSpacing, curve: 0 };
  const radius0 = length / (plan.curve * RAD);
  const radius = radius0 + k * plan.rowSpacing;
  if (Math.sign(radius) !== Math.sign(radius0)) {
    throw new Error(
      "invalid scenario: a section plan's rows reach the centre of its arc; use a smaller rowSpacing or curve",
    );
  }
  return { ...middle, rotation: plan.rotation, seatSpacing: plan.seatSpacing, curve: length / radius / RAD };
}

/** Each row's position, and the section's outline (half a row and half a seat around the seats). */
export function reservedPlan(
  plan: ReservedPlan,
  rows: number,
  seatsPerRow: number,
): { positions: RowPosition[]; outline: Point[] } {
  const positions = Array.from({ length: rows }, (_, k) => rowAt(plan, seatsPerRow, k));
  const edge = (k: number) => {
    const row = rowAt(plan, seatsPerRow, k);
    const steps = Math.min(24, Math.max(1, seatsPerRow));
    return Array.from({ length: steps + 1 }, (_, j) => {
      const p = seatOnRow(row, seatsPerRow, -0.5 + (j * seatsPerRow) / steps);
      return { x: round(p.x), y: round(p.y) };
    });
  };
  return { positions, outline: [...edge(-0.5), ...edge(rows - 0.5).reverse()] };
}

const round = (v: number) => Math.round(v * 100) / 100;
