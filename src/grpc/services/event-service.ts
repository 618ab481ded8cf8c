// EventService: request validation and mapping between proto messages and
// the event use cases (events/events.ts).
import { Validator } from "../../domain/validation.js";
import { SeatState, type InventoryCounts } from "../../gen/ticketing/v1/common.js";
import {
  type EventServiceService,
  SaleState as SaleStateMessage,
  type Event as EventMessage,
  type Section as SectionMessage,
} from "../../gen/ticketing/v1/event_service.js";
import type { StoredEvent } from "../../events/event-store.js";
import type { Counts, EventDraft, Events, SeatMap, SectionDraft } from "../../events/events.js";
import type { LiveSeatState } from "../../events/inventory.js";
import type { EventLayout, SaleState, SectionLayout } from "../../events/layout.js";
import type { ServiceHandlers } from "../bind.js";
import { minorUnitDigits } from "../../domain/money.js";

const SALE_STATES: Record<SaleState, SaleStateMessage> = {
  SCHEDULED: SaleStateMessage.SALE_STATE_SCHEDULED,
  OPEN: SaleStateMessage.SALE_STATE_OPEN,
  PAUSED: SaleStateMessage.SALE_STATE_PAUSED,
  CLOSED: SaleStateMessage.SALE_STATE_CLOSED,
};

export function toSaleStateMessage(state: SaleState): SaleStateMessage {
  return SALE_STATES[state] ?? SaleStateMessage.SALE_STATE_UNSPECIFIED;
}

const SEAT_STATES: Record<LiveSeatState, SeatState> = {
  F: SeatState.SEAT_STATE_FREE,
  H: SeatState.SEAT_STATE_HELD,
  S: SeatState.SEAT_STATE_SOLD,
};

function toSeatMapMessage(map: SeatMap) {
  return {
    eventId: map.eventId,
    version: map.version.toString(),
    sections: map.sections.map((s) => ({ sectionId: s.sectionId, rows: s.rows, counts: toCountsMessage(s.counts) })),
  };
}

export function toCountsMessage(c: Counts): InventoryCounts {
  return { capacity: c.capacity, free: c.free, held: c.held, sold: c.sold };
}

function toSectionMessage(s: SectionLayout): SectionMessage {
  // The seat plan's parts only where the event has them (an event without a plan answers as before).
  const outline = s.outline ? { outline: { points: s.outline.map((p) => ({ ...p })) } } : {};
  if (s.generalAdmission) {
    const area = s.generalAdmission.area;
    return {
      sectionId: s.sectionId,
      name: s.name,
      layout: {
        $case: "generalAdmission",
        value: {
          capacity: s.generalAdmission.capacity,
          priceCategoryId: s.generalAdmission.priceCategoryId,
          ...(area ? { area: { ...area } } : {}),
        },
      },
      ...outline,
    };
  }
  return {
    sectionId: s.sectionId,
    name: s.name,
    layout: {
      $case: "reserved",
      value: {
        rows: (s.rows ?? []).map((r) => ({
          rowId: r.rowId,
          firstSeatNumber: r.firstSeatNumber,
          seatCount: r.seatCount,
          priceCategoryId: r.priceCategoryId,
          ...(r.placement
            ? {
                placement: {
                  ...(r.placement.position ? { position: { ...r.placement.position } } : {}),
                  seats: r.placement.seats.map((seat) => ({ ...seat })),
                },
              }
            : {}),
        })),
      },
    },
    ...outline,
  };
}

/** The proto Event for a stored event; ListEvents leaves the sections out. */
export function toEventMessage(
  { layout, saleState, shuffleSeedSha256 }: StoredEvent,
  withSections = true,
): EventMessage {
  const l: EventLayout = layout;
  return {
    eventId: l.eventId,
    name: l.name,
    venue: l.venue,
    startTime: l.startTime,
    saleOpenTime: l.saleOpenTime,
    saleCloseTime: l.saleCloseTime,
    saleState: toSaleStateMessage(saleState),
    holdPolicy: { ...l.holdPolicy },
    maxTicketsPerBuyer: l.maxTicketsPerBuyer,
    waitingRoom: { ...l.waitingRoom, shuffleSeedSha256: shuffleSeedSha256 ?? "" },
    currencyCode: l.currencyCode,
    currencyMinorDigits: minorUnitDigits(l.currencyCode),
    // A layout cached in Redis before the refund policy existed has none: refunds until the start.
    refundCutoffSeconds: l.refundCutoffSeconds ?? 0,
    priceCategories: l.priceCategories.map((c) => ({
      priceCategoryId: c.priceCategoryId,
      name: c.name,
      priceMinor: String(c.priceMinor),
    })),
    sections: withSections ? l.sections.map(toSectionMessage) : [],
    capacity: l.capacity,
    createTime: l.createTime,
  };
}

/** The caller's event as a draft for validation; output-only fields are ignored. */
export function toEventDraft(e: EventMessage): EventDraft {
  return {
    eventId: e.eventId,
    name: e.name,
    venue: e.venue,
    startTime: e.startTime,
    saleOpenTime: e.saleOpenTime,
    saleCloseTime: e.saleCloseTime,
    holdPolicy: e.holdPolicy ? { ...e.holdPolicy } : undefined,
    maxTicketsPerBuyer: e.maxTicketsPerBuyer,
    waitingRoom: e.waitingRoom ? { ...e.waitingRoom } : undefined,
    refundCutoffSeconds: e.refundCutoffSeconds,
    currencyCode: e.currencyCode,
    priceCategories: e.priceCategories.map((c) => ({
      priceCategoryId: c.priceCategoryId,
      name: c.name,
      priceMinor: c.priceMinor,
    })),
    sections: e.sections.map((s): SectionDraft => {
      const layout = s.layout;
      const outline = s.outline;
      if (layout?.$case === "reserved") {
        return {
          sectionId: s.sectionId,
          name: s.name,
          reserved: { rows: layout.value.rows.map((r) => ({ ...r })) },
          outline,
        };
      }
      if (layout?.$case === "generalAdmission") {
        return { sectionId: s.sectionId, name: s.name, generalAdmission: { ...layout.value }, outline };
      }
      return { sectionId: s.sectionId, name: s.name, outline };
    }),
  };
}

/** event_id, and request_id on mutating calls. */
function checkIds(req: { eventId: string; requestId?: string }): void {
  const v = new Validator();
  v.id("event_id", req.eventId);
  if (req.requestId !== undefined) v.id("request_id", req.requestId);
  v.check();
}

export function eventHandlers(events: Events): ServiceHandlers<typeof EventServiceService> {
  return {
    async createEvent(req) {
      const stored = await events.createEvent({
        requestId: req.requestId,
        event: req.event ? toEventDraft(req.event) : undefined,
      });
      return { event: toEventMessage(stored) };
    },

    async getEvent(req) {
      checkIds({ eventId: req.eventId });
      return { event: toEventMessage(await events.getEvent(req.eventId)) };
    },

    async listEvents(req) {
      const page = await events.listEvents(req.pageSize, req.pageToken);
      return { events: page.events.map((e) => toEventMessage(e, false)), nextPageToken: page.nextPageToken };
    },

    async openSale(req) {
      checkIds(req);
      return { event: toEventMessage(await events.openSale(req.eventId)) };
    },

    async pauseSale(req) {
      checkIds(req);
      return { event: toEventMessage(await events.pauseSale(req.eventId)) };
    },

    async closeSale(req) {
      checkIds(req);
      return { event: toEventMessage(await events.closeSale(req.eventId)) };
    },

    async getSeatMap(req) {
      checkIds({ eventId: req.eventId });
      return toSeatMapMessage(await events.getSeatMap(req.eventId));
    },

    async watchSeatMap(req, ctx, send) {
      checkIds({ eventId: req.eventId });
      await events.watchSeatMap(req.eventId, ctx.signal, (update) =>
        send(
          update.kind === "snapshot"
            ? { update: { $case: "snapshot", value: toSeatMapMessage(update.seatMap) } }
            : {
                update: {
                  $case: "delta",
                  value: {
                    fromVersion: update.delta.fromVersion.toString(),
                    toVersion: update.delta.toVersion.toString(),
                    seats: [...update.delta.seats].map(([seatId, state]) => ({ seatId, state: SEAT_STATES[state] })),
                    sections: [...update.delta.sections].map(([sectionId, c]) => ({
                      sectionId,
                      counts: {
                        capacity: c.capacity,
                        held: c.held,
                        sold: c.sold,
                        free: Math.max(0, c.capacity - c.held - c.sold),
                      },
                    })),
                  },
                },
              },
        ),
      );
    },

    async getEventSummary(req) {
      checkIds({ eventId: req.eventId });
      const summary = await events.getEventSummary(req.eventId);
      return {
        eventId: summary.eventId,
        saleState: toSaleStateMessage(summary.saleState),
        total: toCountsMessage(summary.total),
        sections: summary.sections.map((s) => ({ sectionId: s.sectionId, counts: toCountsMessage(s.counts) })),
        categories: summary.categories.map((c) => ({
          priceCategoryId: c.priceCategoryId,
          counts: toCountsMessage(c.counts),
        })),
        funnel: { ...summary.funnel, admissionsPerSecond: summary.health.admissionRate },
      };
    },

    async updateWaitingRoom(req) {
      return { event: toEventMessage(await events.updateWaitingRoom(req)) };
    },

    async rebuildInventory(req) {
      checkIds(req);
      return { total: toCountsMessage(await events.rebuildInventory(req.eventId)) };
    },
  };
}
