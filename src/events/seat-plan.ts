// CreateEvent's seat plan: row placements, section outlines and
// general-admission areas checked field by field (finite, within bounds, only
// seats that exist, every seat placed once a plan exists), and copied into
// the layout with nothing but the fields the domain knows.
import type { Validator } from "../domain/validation.js";
import { rowSeatPlacements } from "./geometry.js";
import type { Area, Point, RowPlacement, RowPosition, SeatPosition } from "./layout.js";

export const PLAN_LIMITS = {
  /** Every coordinate, given or computed, is within ±this. */
  coordinate: 1_000_000,
  rotation: 360,
  curve: 360,
  seatSpacingMax: 10_000,
  areaSideMax: 2_000_000,
  outlinePoints: [3, 500],
} as const;

/** A section as CreateEvent sent it, as far as the seat plan goes (proto shapes, nothing checked yet). */
export interface PlanSectionDraft {
  reserved?:
    | {
        rows: {
          firstSeatNumber: number;
          seatCount: number;
          placement?: { position?: RowPosition | undefined; seats: SeatPosition[] } | undefined;
        }[];
      }
    | undefined;
  generalAdmission?: { area?: Area | undefined } | undefined;
  outline?: { points: Point[] } | undefined;
}

/** LIMITS.seatsPerRow in events.ts. */
const SEATS_PER_ROW_MAX = 500;

/** Stop looking once this many problems are listed (the caller caps what it reports). */
const ENOUGH = 40;

/**
 * Checks the plan of every section (`event.sections[i]...` field paths) and
 * whether it is whole: once anything has coordinates, every row must place
 * all of its seats and every general-admission section needs an area or an
 * outline.
 */
export function checkSeatPlan(v: Validator, sections: PlanSectionDraft[], path = "event.sections"): void {
  const hasPlan = sections.some(
    (s) =>
      Boolean(s.outline) ||
      Boolean(s.generalAdmission?.area) ||
      (s.reserved?.rows ?? []).some((r) => Boolean(r.placement)),
  );
  const enough = () => v.violations.length >= ENOUGH;
  sections.forEach((s, i) => {
    if (enough()) return;
    const f = `${path}[${i}]`;
    if (s.outline) checkOutline(v, `${f}.outline`, s.outline.points ?? []);
    if (s.generalAdmission) {
      const area = s.generalAdmission.area;
      if (area) checkArea(v, `${f}.general_admission.area`, area);
      else if (hasPlan && !s.outline) {
        v.add(
          `${f}.general_admission.area`,
          "is required: the event has a seat plan, so a general-admission section needs an area or an outline",
        );
      }
    }
    (s.reserved?.rows ?? []).forEach((r, j) => {
      if (enough()) return;
      const rf = `${f}.reserved.rows[${j}]`;
      if (r.placement) checkRowPlacement(v, `${rf}.placement`, r, r.placement);
      else if (hasPlan) {
        v.add(
          `${rf}.placement`,
          "is required: the event has a seat plan (other rows or sections have coordinates), so every row needs one",
        );
      }
    });
  });
}

function finite(v: Validator, field: string, value: number | undefined, min: number, max: number): boolean {
  const n = value ?? 0;
  if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max) {
    v.add(field, `must be a finite number in ${min}..${max}`);
    return false;
  }
  return true;
}

function coordinates(v: Validator, f: string, p: { x: number; y: number }): boolean {
  const c = PLAN_LIMITS.coordinate;
  const x = finite(v, `${f}.x`, p.x, -c, c);
  const y = finite(v, `${f}.y`, p.y, -c, c);
  return x && y;
}

function rotation(v: Validator, field: string, value: number): boolean {
  return finite(v, field, value, -PLAN_LIMITS.rotation, PLAN_LIMITS.rotation);
}

function checkOutline(v: Validator, f: string, points: Point[]): void {
  const [min, max] = PLAN_LIMITS.outlinePoints;
  if (points.length < min || points.length > max) {
    v.add(`${f}.points`, `must have ${min}..${max} points`);
    return;
  }
  for (let k = 0; k < points.length && v.violations.length < ENOUGH; k++) {
    coordinates(v, `${f}.points[${k}]`, points[k]!);
  }
}

function checkArea(v: Validator, f: string, area: Area): void {
  coordinates(v, f, area);
  for (const side of ["width", "height"] as const) {
    const n = area[side];
    if (typeof n !== "number" || !Number.isFinite(n) || n <= 0 || n > PLAN_LIMITS.areaSideMax) {
      v.add(`${f}.${side}`, `must be a finite number more than 0 and at most ${PLAN_LIMITS.areaSideMax}`);
    }
  }
  rotation(v, `${f}.rotation`, area.rotation);
}

function checkRowPlacement(
  v: Validator,
  f: string,
  row: { firstSeatNumber: number; seatCount: number },
  placement: { position?: RowPosition | undefined; seats: SeatPosition[] },
): void {
  // A row whose seat count is wrong is reported as such (events.ts); its seats cannot be checked.
  if (!Number.isInteger(row.seatCount) || row.seatCount < 1 || row.seatCount > SEATS_PER_ROW_MAX) return;
  const first = row.firstSeatNumber || 1;
  const last = first + row.seatCount - 1;
  const before = v.violations.length;
  const position = placement.position;
  if (position) {
    coordinates(v, `${f}.position`, position);
    rotation(v, `${f}.position.rotation`, position.rotation);
    finite(v, `${f}.position.curve`, position.curve, -PLAN_LIMITS.curve, PLAN_LIMITS.curve);
    const spacing = position.seatSpacing;
    if (
      typeof spacing !== "number" ||
      !Number.isFinite(spacing) ||
      spacing < 0 ||
      spacing > PLAN_LIMITS.seatSpacingMax
    ) {
      v.add(`${f}.position.seat_spacing`, `must be a finite number in 0..${PLAN_LIMITS.seatSpacingMax}`);
    } else if (spacing === 0 && row.seatCount > 1) {
      v.add(`${f}.position.seat_spacing`, "is required (more than 0) for a row of more than one seat");
    }
  }
  const seen = new Set<number>();
  const seats = placement.seats ?? [];
  for (let k = 0; k < seats.length && v.violations.length < ENOUGH; k++) {
    const s = seats[k]!;
    const sf = `${f}.seats[${k}]`;
    if (!Number.isInteger(s.seatNumber) || s.seatNumber < first || s.seatNumber > last) {
      v.add(`${sf}.seat_number`, `seat ${s.seatNumber} is not in the row (seats ${first}..${last})`);
    } else if (seen.has(s.seatNumber)) {
      v.add(`${sf}.seat_number`, `seat ${s.seatNumber} is placed twice`);
    } else seen.add(s.seatNumber);
    coordinates(v, sf, s);
    rotation(v, `${sf}.rotation`, s.rotation);
  }
  if (!position && seen.size < row.seatCount) {
    const missing: number[] = [];
    for (let n = first; n <= last && missing.length < 5; n++) if (!seen.has(n)) missing.push(n);
    const more = row.seatCount - seen.size - missing.length;
    v.add(
      `${f}.seats`,
      `must place every seat of the row when position is unset; missing seat ${missing.join(", ")}${more > 0 ? ` and ${more} more` : ""}`,
    );
  }
  // Where the row's line or arc puts its seats must be on the plan too.
  if (position && v.violations.length === before) {
    const c = PLAN_LIMITS.coordinate;
    const off = rowSeatPlacements({ firstSeatNumber: first, seatCount: row.seatCount, placement }).find(
      (p) => p && (Math.abs(p.x) > c || Math.abs(p.y) > c),
    );
    if (off) {
      v.add(
        `${f}.position`,
        `puts seat ${off.seatNumber} at (${Math.round(off.x)}, ${Math.round(off.y)}), outside -${c}..${c}`,
      );
    }
  }
}

/** The row's placement as the layout keeps it: only the domain's fields. */
export function toRowPlacement(p: { position?: RowPosition | undefined; seats: SeatPosition[] }): RowPlacement {
  const q = p.position;
  return {
    ...(q ? { position: { x: q.x, y: q.y, rotation: q.rotation, seatSpacing: q.seatSpacing, curve: q.curve } } : {}),
    seats: (p.seats ?? []).map((s) => ({ seatNumber: s.seatNumber, x: s.x, y: s.y, rotation: s.rotation })),
  };
}

export function toArea(a: Area): Area {
  return { x: a.x, y: a.y, width: a.width, height: a.height, rotation: a.rotation };
}

export function toOutline(points: Point[]): Point[] {
  return points.map((p) => ({ x: p.x, y: p.y }));
}
