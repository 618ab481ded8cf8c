// The seat plan's one computation: where each seat is drawn, from its own
// position when the row lists it, else from the row's line or arc. The proto
// (RowPosition in proto/ticketing/v1/event_service.proto) states the same
// formulas for clients; validation, GetEvent's callers in this repository and
// the demo's SVG all use this function. It takes the domain layout
// (layout.ts) and the generated proto messages alike: both have these fields.

/** A seat's centre on the plan and its rotation (degrees clockwise; 0 faces up, -y). */
export interface PlacedSeat {
  seatNumber: number;
  x: number;
  y: number;
  rotation: number;
}

export interface RowPositionLike {
  x: number;
  y: number;
  rotation: number;
  seatSpacing: number;
  curve: number;
}

export interface RowLike {
  firstSeatNumber: number;
  seatCount: number;
  placement?:
    | {
        position?: RowPositionLike | undefined;
        seats: readonly { seatNumber: number; x: number; y: number; rotation: number }[];
      }
    | undefined;
}

const RAD = Math.PI / 180;

/**
 * Where the row's line or arc puts its seat at index i (0: the first seat):
 * seats spaced evenly by arc length from the middle of the row.
 */
export function seatOnRow(position: RowPositionLike, seatCount: number, i: number): Omit<PlacedSeat, "seatNumber"> {
  const r = position.rotation * RAD;
  const ux = Math.cos(r);
  const uy = Math.sin(r);
  // v: u turned 90 degrees clockwise (y down); seats face -v.
  const vx = -uy;
  const vy = ux;
  const t = (i - (seatCount - 1) / 2) * position.seatSpacing;
  const length = (seatCount - 1) * position.seatSpacing;
  const curve = position.curve * RAD;
  if (curve === 0 || length === 0) {
    return { x: position.x + t * ux, y: position.y + t * uy, rotation: position.rotation };
  }
  const radius = length / curve; // negative for a negative curve
  const a = t / radius;
  const along = radius * Math.sin(a);
  const across = radius * (Math.cos(a) - 1);
  return {
    x: position.x + along * ux + across * vx,
    y: position.y + along * uy + across * vy,
    rotation: position.rotation - a / RAD,
  };
}

/**
 * Every seat of the row in seat-number order with where it is drawn: its own
 * position if the placement lists it, else where the row's position puts it;
 * undefined for a seat the placement leaves out (and for every seat of a row
 * without a placement).
 */
export function rowSeatPlacements(row: RowLike): (PlacedSeat | undefined)[] {
  const first = row.firstSeatNumber || 1;
  const own = new Map<number, { x: number; y: number; rotation: number }>();
  for (const s of row.placement?.seats ?? []) own.set(s.seatNumber, s);
  const position = row.placement?.position;
  const out: (PlacedSeat | undefined)[] = [];
  for (let i = 0; i < row.seatCount; i++) {
    const seatNumber = first + i;
    const mine = own.get(seatNumber);
    if (mine) out.push({ seatNumber, x: mine.x, y: mine.y, rotation: mine.rotation });
    else if (position) out.push({ seatNumber, ...seatOnRow(position, row.seatCount, i) });
    else out.push(undefined);
  }
  return out;
}

/** The four corners of an area (a rectangle centred on x, y, turned clockwise), clockwise from the top-left. */
export function areaCorners(area: { x: number; y: number; width: number; height: number; rotation: number }): {
  x: number;
  y: number;
}[] {
  const r = area.rotation * RAD;
  const c = Math.cos(r);
  const s = Math.sin(r);
  const w = area.width / 2;
  const h = area.height / 2;
  return [
    [-w, -h],
    [w, -h],
    [w, h],
    [-w, h],
  ].map(([dx = 0, dy = 0]) => ({ x: area.x + dx * c - dy * s, y: area.y + dx * s + dy * c }));
}
