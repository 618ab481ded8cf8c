// ReservationService: request validation and proto mapping around holds.
import { invalidArgument } from "../../domain/errors.js";
import { Validator } from "../../domain/validation.js";
import {
  HoldState,
  type ReservationServiceService,
  type Hold as HoldMessage,
} from "../../gen/ticketing/v1/reservation_service.js";
import type { Hold, Holds } from "../../holds/holds.js";
import type { ServiceHandlers } from "../bind.js";

const STATES: Record<Hold["state"], HoldState> = {
  ACTIVE: HoldState.HOLD_STATE_ACTIVE,
  PINNED: HoldState.HOLD_STATE_PINNED,
  SOLD: HoldState.HOLD_STATE_SOLD,
  RELEASED: HoldState.HOLD_STATE_RELEASED,
  EXPIRED: HoldState.HOLD_STATE_EXPIRED,
};

export function toHoldMessage(hold: Hold): HoldMessage {
  // Field by field (no spread): built on every hold.
  return {
    holdId: hold.holdId,
    eventId: hold.eventId,
    buyerId: hold.buyerId,
    state: STATES[hold.state],
    seatIds: hold.seatIds,
    sectionId: hold.sectionId,
    quantity: hold.quantity,
    createTime: hold.createTime,
    expireTime: hold.expireTime,
    extensionsUsed: hold.extensionsUsed,
    maxExtensions: hold.maxExtensions,
  };
}

const MAX_SEATS_PER_REQUEST = 100;

/** Who holds for which event, and under which request id and admission token. */
function holdTarget(
  v: Validator,
  req: { eventId: string; buyerId: string; requestId: string; admissionToken: string },
) {
  return {
    eventId: v.id("event_id", req.eventId),
    buyerId: v.id("buyer_id", req.buyerId),
    requestId: v.id("request_id", req.requestId),
    admissionToken: v.text("admission_token", req.admissionToken, 4096, false),
  };
}

export function reservationHandlers(holds: Holds): ServiceHandlers<typeof ReservationServiceService> {
  return {
    async holdSeats(req) {
      const v = new Validator();
      const target = holdTarget(v, req);
      const selection = req.selection;
      if (!selection) {
        v.add("selection", "set seats or general_admission");
        throw invalidArgument(v.violations);
      }
      if (selection.$case === "seats") {
        const ids = selection.value.seatIds;
        if (ids.length === 0) v.add("seats.seat_ids", "name at least one seat");
        if (ids.length > MAX_SEATS_PER_REQUEST) v.add("seats.seat_ids", `at most ${MAX_SEATS_PER_REQUEST} seats`);
        v.check();
        return { hold: toHoldMessage(await holds.holdSeats(target, ids)) };
      }
      const sectionId = v.shortId("general_admission.section_id", selection.value.sectionId);
      v.check();
      return { hold: toHoldMessage(await holds.holdQuantity(target, sectionId, selection.value.quantity)) };
    },

    async holdBestAvailable(req) {
      const v = new Validator();
      const target = holdTarget(v, req);
      const priceCategoryId = v.optionalId("price_category_id", req.priceCategoryId);
      if (req.sectionId) v.shortId("section_id", req.sectionId);
      v.check();
      const hold = await holds.holdBestAvailable(target, req.quantity, { priceCategoryId, sectionId: req.sectionId });
      return { hold: toHoldMessage(hold) };
    },

    async getHold(req) {
      const v = new Validator();
      v.id("event_id", req.eventId);
      v.id("hold_id", req.holdId);
      v.check();
      return { hold: toHoldMessage(await holds.getHold(req.eventId, req.holdId)) };
    },

    async extendHold(req) {
      const v = new Validator();
      v.id("event_id", req.eventId);
      v.id("hold_id", req.holdId);
      v.id("buyer_id", req.buyerId);
      v.id("request_id", req.requestId);
      v.check();
      return { hold: toHoldMessage(await holds.extendHold(req.eventId, req.holdId, req.buyerId, req.requestId)) };
    },

    async releaseHold(req) {
      const v = new Validator();
      v.id("event_id", req.eventId);
      v.id("hold_id", req.holdId);
      v.id("buyer_id", req.buyerId);
      v.id("request_id", req.requestId);
      v.check();
      return { hold: toHoldMessage(await holds.releaseHold(req.eventId, req.holdId, req.buyerId)) };
    },
  };
}
