// The live seat map as an SVG, drawn the way a storefront would: the event's
// seat plan from GetEvent (coordinates) and the seats' states from
// GetSeatMap, each seat placed by the one shared computation
// (src/events/geometry.ts). One <rect class="seat ..."> per seat, turned by
// its rotation and coloured by its state; sections outlined and labelled;
// general-admission areas with a bar of free, held and sold places.
import { areaCorners, rowSeatPlacements, type PlacedSeat } from "../../src/events/geometry.js";
import type { Event, GetSeatMapResponse } from "../../src/gen/ticketing/v1/event_service.js";

export const SEAT_COLOURS = { F: "#2e9d5b", H: "#f0a202", S: "#c8324b" } as const;
const STATE_NAMES = { F: "free", H: "held", S: "sold" } as const;
type StateChar = keyof typeof SEAT_COLOURS;

interface Pt {
  x: number;
  y: number;
}

export interface SeatMapSvg {
  svg: string;
  /** Seats drawn, by state. */
  seats: Record<"free" | "held" | "sold", number>;
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const n = (v: number) => String(Math.round(v * 100) / 100);
const points = (ps: Pt[]) => ps.map((p) => `${n(p.x)},${n(p.y)}`).join(" ");

/** Whether the event has a seat plan to draw (any row placement, outline or general-admission area). */
export function hasSeatPlan(event: Event): boolean {
  return event.sections.some(
    (s) =>
      Boolean(s.outline) ||
      (s.layout?.$case === "generalAdmission" && Boolean(s.layout.value.area)) ||
      (s.layout?.$case === "reserved" && s.layout.value.rows.some((r) => r.placement)),
  );
}

/**
 * Renders the seat map. Seats with no position (an event without a plan)
 * are left out; seats whose state GetSeatMap does not list are drawn free.
 */
export function renderSeatMapSvg(event: Event, map: GetSeatMapResponse): SeatMapSvg {
  const states = new Map<string, string>(); // "section|row" -> states string
  const gaCounts = new Map<string, { capacity: number; free: number; held: number; sold: number }>();
  for (const s of map.sections) {
    for (const r of s.rows) states.set(`${s.sectionId}|${r.rowId}`, r.states);
    if (s.counts) gaCounts.set(s.sectionId, s.counts);
  }

  const seats: { id: string; p: PlacedSeat; state: StateChar }[] = [];
  const sectionShapes: { label: string; outline?: Pt[]; area?: Pt[]; seatsOf: Pt[]; ga?: string }[] = [];
  const gaps: number[] = [];
  for (const s of event.sections) {
    const shape: (typeof sectionShapes)[number] = {
      label: s.name || s.sectionId,
      seatsOf: [],
      ...(s.outline ? { outline: s.outline.points } : {}),
    };
    if (s.layout?.$case === "reserved") {
      for (const row of s.layout.value.rows) {
        const rowStates = states.get(`${s.sectionId}|${row.rowId}`) ?? "";
        const placed = rowSeatPlacements(row);
        placed.forEach((p, i) => {
          if (!p) return;
          const c = rowStates[i];
          const state: StateChar = c === "H" || c === "S" ? c : "F";
          seats.push({ id: `${s.sectionId}-${row.rowId}-${p.seatNumber}`, p, state });
          shape.seatsOf.push(p);
          const next = placed[i + 1];
          if (next) gaps.push(Math.hypot(next.x - p.x, next.y - p.y));
        });
      }
    } else if (s.layout?.$case === "generalAdmission") {
      shape.ga = s.sectionId;
      if (s.layout.value.area) shape.area = areaCorners(s.layout.value.area);
    }
    sectionShapes.push(shape);
  }

  // A seat is a little less than the usual distance between neighbours.
  gaps.sort((a, b) => a - b);
  const typical = gaps.length > 0 ? gaps[Math.floor(gaps.length / 2)]! : 20;
  const size = Math.max(typical * 0.8, 1e-3);

  const all: Pt[] = [];
  for (const { p } of seats) all.push({ x: p.x - size, y: p.y - size }, { x: p.x + size, y: p.y + size });
  for (const sh of sectionShapes) all.push(...(sh.outline ?? []), ...(sh.area ?? []));
  const { minX, maxX, minY, maxY } = bounds(all) ?? { minX: 0, maxX: 100, minY: 0, maxY: 100 };
  const w = Math.max(maxX - minX, 1);
  const h = Math.max(maxY - minY, 1);
  const margin = Math.max(w, h) * 0.06;
  const font = Math.max(w, h) / 40;
  const legendH = font * 2.2;
  const vb = { x: minX - margin, y: minY - margin - legendH, w: w + 2 * margin, h: h + 2 * margin + legendH };

  const counts = { free: 0, held: 0, sold: 0 };
  for (const s of seats) counts[STATE_NAMES[s.state]]++;

  const out: string[] = [];
  const pixels = 900;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="${n(vb.x)} ${n(vb.y)} ${n(vb.w)} ${n(vb.h)}" width="${pixels}" height="${Math.round((pixels * vb.h) / vb.w)}" font-family="sans-serif">`,
    `<title>${esc(`${event.name} (${event.eventId}): seat map at version ${map.version}`)}</title>`,
    `<rect x="${n(vb.x)}" y="${n(vb.y)}" width="${n(vb.w)}" height="${n(vb.h)}" fill="#ffffff"/>`,
  );
  // Legend: the three states and how many seats are in each.
  let lx = minX;
  const ly = minY - margin - legendH + font * 0.4;
  for (const c of ["F", "H", "S"] as const) {
    const name = STATE_NAMES[c];
    out.push(
      `<rect class="legend ${name}" x="${n(lx)}" y="${n(ly)}" width="${n(font)}" height="${n(font)}" fill="${SEAT_COLOURS[c]}"/>`,
      `<text x="${n(lx + font * 1.3)}" y="${n(ly + font * 0.85)}" font-size="${n(font)}">${name} ${counts[name]}</text>`,
    );
    lx += font * 7;
  }

  for (const sh of sectionShapes) {
    const shapePts = sh.outline ?? sh.area;
    if (sh.outline) {
      out.push(
        `<polygon class="section-outline" points="${points(sh.outline)}" fill="none" stroke="#555555" stroke-width="${n(font / 8)}"/>`,
      );
    }
    if (sh.area) {
      out.push(
        `<polygon class="ga-area" points="${points(sh.area)}" fill="#eef3f8" stroke="#555555" stroke-width="${n(font / 10)}"/>`,
      );
    }
    // The label: above the section's seats, else in the middle of its shape.
    const box = bounds(sh.seatsOf.length > 0 ? sh.seatsOf : (shapePts ?? []));
    if (!box) continue;
    const cx = (box.minX + box.maxX) / 2;
    let label = sh.label;
    if (sh.ga) {
      const c = gaCounts.get(sh.ga);
      if (c) label = `${sh.label}: ${c.free} free, ${c.held} held, ${c.sold} sold of ${c.capacity}`;
    }
    const ty = sh.seatsOf.length > 0 ? box.minY - size * 0.9 : (box.minY + box.maxY) / 2;
    out.push(
      `<text class="section-label" x="${n(cx)}" y="${n(ty)}" font-size="${n(font)}" text-anchor="middle" fill="#222222">${esc(label)}</text>`,
    );
    if (sh.ga) {
      const c = gaCounts.get(sh.ga);
      if (c && c.capacity > 0) {
        // A bar of free, held and sold places under the label.
        const bw = Math.min(box.maxX - box.minX, font * 12) * 0.9;
        let bx = cx - bw / 2;
        const by = ty + font * 0.5;
        for (const [k, v] of [
          ["F", c.free],
          ["H", c.held],
          ["S", c.sold],
        ] as const) {
          const part = (bw * v) / c.capacity;
          if (part > 0) {
            out.push(
              `<rect class="ga-bar ${STATE_NAMES[k]}" x="${n(bx)}" y="${n(by)}" width="${n(part)}" height="${n(font * 0.8)}" fill="${SEAT_COLOURS[k]}"/>`,
            );
          }
          bx += part;
        }
      }
    }
  }

  for (const s of seats) {
    const name = STATE_NAMES[s.state];
    out.push(
      `<rect class="seat ${name}" data-seat="${esc(s.id)}" x="${n(s.p.x - size / 2)}" y="${n(s.p.y - (size * 0.85) / 2)}" width="${n(size)}" height="${n(size * 0.85)}" rx="${n(size / 5)}" fill="${SEAT_COLOURS[s.state]}" transform="rotate(${n(s.p.rotation)} ${n(s.p.x)} ${n(s.p.y)})"><title>${esc(`${s.id}: ${name}`)}</title></rect>`,
    );
  }
  out.push("</svg>");
  return { svg: `${out.join("\n")}\n`, seats: counts };
}

/** The box around the points (a loop, not Math.min(...): a stadium has 100,000 of them). */
function bounds(ps: Pt[]): { minX: number; maxX: number; minY: number; maxY: number } | undefined {
  if (ps.length === 0) return undefined;
  const b = { minX: Infinity, maxX: -Infinity, minY: Infinity, maxY: -Infinity };
  for (const p of ps) {
    b.minX = Math.min(b.minX, p.x);
    b.maxX = Math.max(b.maxX, p.x);
    b.minY = Math.min(b.minY, p.y);
    b.maxY = Math.max(b.maxY, p.y);
  }
  return b;
}
