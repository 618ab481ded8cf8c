// ReservationService: request validation and proto mapping around holds.
import { AppError, invalidArgument } from "../../domain/errors.js";
import { Validator } from "../../domain/validation.js";
import {
  HoldState,
  type ReservationServiceService,
  type Hold as HoldMessage,
} from "../../gen/ticketing/v1/reservation_service.js";
import type { Hold, Holds } from "../../holds/holds.js";
import { actingBuyer, maySee, type Principal } from "../../identity/principal.js";
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
  principal: Principal,
) {
  return {
    eventId: v.id("event_id", req.eventId),
    buyerId: actingBuyer(principal, req.buyerId, v),
    requestId: v.id("request_id", req.requestId),
    admissionToken: v.text("admission_token", req.admissionToken, 4096, false),
  };
}

export function reservationHandlers(holds: Holds): ServiceHandlers<typeof ReservationServiceService> {
  return {
    async holdSeats(req, ctx) {
      const v = new Validator();
      const target = holdTarget(v, req, ctx.principal);
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

    async holdBestAvailable(req, ctx) {
      const v = new Validator();
      const target = holdTarget(v, req, ctx.principal);
      const priceCategoryId = v.optionalId("price_category_id", req.priceCategoryId);
      if (req.sectionId) v.shortId("section_id", req.sectionId);
      v.check();
      const hold = await holds.holdBestAvailable(target, req.quantity, { priceCategoryId, sectionId: req.sectionId });
      return { hold: toHoldMessage(hold) };
    },

    async getHold(req, ctx) {
      const v = new Validator();
      v.id("event_id", req.eventId);
      v.id("hold_id", req.holdId);
      v.check();
      const hold = await holds.getHold(req.eventId, req.holdId);
      if (!maySee(ctx.principal, hold.buyerId)) throw holdNotFound(req.holdId);
      return { hold: toHoldMessage(hold) };
    },

    async extendHold(req, ctx) {
      const v = new Validator();
      v.id("event_id", req.eventId);
      v.id("hold_id", req.holdId);
      v.id("request_id", req.requestId);
      const buyerId = actingBuyer(ctx.principal, req.buyerId, v);
      v.check();
      const hold = await ownHold(holds.extendHold(req.eventId, req.holdId, buyerId, req.requestId), req.holdId);
      return { hold: toHoldMessage(hold) };
    },

    async releaseHold(req, ctx) {
      const v = new Validator();
      v.id("event_id", req.eventId);
      v.id("hold_id", req.holdId);
      v.id("request_id", req.requestId);
      const buyerId = actingBuyer(ctx.principal, req.buyerId, v);
      v.check();
      return { hold: toHoldMessage(await ownHold(holds.releaseHold(req.eventId, req.holdId, buyerId), req.holdId)) };
    },
  };
}

/** Another buyer's hold is answered as not found, so hold ids cannot be probed. */
function holdNotFound(holdId: string): AppError {
  return new AppError("HOLD_NOT_FOUND", `hold ${holdId} not found`);
}

function ownHold(result: Promise<Hold>, holdId: string): Promise<Hold> {
  return result.catch((err: unknown) => {
    throw err instanceof AppError && err.reason === "HOLD_NOT_OWNED" ? holdNotFound(holdId) : err;
  });
}
