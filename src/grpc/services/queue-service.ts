// QueueService: the waiting room and the keys that verify its admission tokens.
import {
  QueueState as QueueStateMessage,
  type QueueServiceService,
  type QueueTicket as QueueTicketMessage,
} from "../../gen/ticketing/v1/queue_service.js";
import { AppError } from "../../domain/errors.js";
import { ID_PATTERN, Validator } from "../../domain/validation.js";
import { actingBuyer } from "../../identity/principal.js";
import type { AdmissionTicker } from "../../queue/admission-ticker.js";
import type { QueueWatchHub } from "../../queue/queue-watch.js";
import type { QueueState, QueueTicket, WaitingRoom } from "../../queue/waiting-room.js";
import type { SigningKeyAdmin } from "../../signing/key-admin.js";
import { KEY_PURPOSES, type KeyPurpose } from "../../signing/keks.js";
import type { VerifyingKey } from "../../signing/key-ring.js";
import type { TokenService } from "../../signing/tokens.js";
import type { ServiceHandlers } from "../bind.js";

const STATES: Record<QueueState, QueueStateMessage> = {
  PRE_QUEUE: QueueStateMessage.QUEUE_STATE_PRE_QUEUE,
  WAITING: QueueStateMessage.QUEUE_STATE_WAITING,
  ADMITTED: QueueStateMessage.QUEUE_STATE_ADMITTED,
  EXPIRED: QueueStateMessage.QUEUE_STATE_EXPIRED,
  SOLD_OUT: QueueStateMessage.QUEUE_STATE_SOLD_OUT,
  LEFT: QueueStateMessage.QUEUE_STATE_LEFT,
  COMPLETED: QueueStateMessage.QUEUE_STATE_COMPLETED,
  SALE_CLOSED: QueueStateMessage.QUEUE_STATE_SALE_CLOSED,
};

export function toQueueTicketMessage(t: QueueTicket): QueueTicketMessage {
  // Field by field (no spread): built on every poll.
  return {
    eventId: t.eventId,
    buyerId: t.buyerId,
    state: STATES[t.state],
    position: String(t.position),
    estimatedWaitSeconds: t.estimatedWaitSeconds,
    admissionToken: t.admissionToken,
    admissionExpireTime: t.admissionExpireTime,
    joinTime: t.joinTime,
    seatsMayReturn: t.seatsMayReturn,
    peopleAhead: String(t.peopleAhead),
    shuffleSeedSha256: t.shuffleSeedSha256,
    shuffleSeed: t.shuffleSeed,
    admissionRate: t.admissionRate,
    maxTickets: t.maxTickets,
  };
}

export interface QueueServiceDeps {
  room: WaitingRoom;
  watch: QueueWatchHub;
  ticker: AdmissionTicker;
  tokens: TokenService;
  /** The ticket key ring's tokens, so scanners get the ticket keys from the same JWKS. */
  ticketTokens: TokenService;
  /** Who rotates and retires each purpose's keys (ticket keys: the worker, which holds their KEKs). */
  keyAdmin: Record<KeyPurpose, SigningKeyAdmin>;
}

function signingKeyMessage(key: VerifyingKey, purpose: string) {
  return { kid: key.kid, kty: "OKP", crv: "Ed25519", x: key.x, alg: "EdDSA", retireTime: key.retireAt, purpose };
}

export function queueHandlers(deps: QueueServiceDeps): ServiceHandlers<typeof QueueServiceService> {
  const { room, watch, ticker, tokens } = deps;
  /** Mutating calls carry a request id (optional here: both are idempotent per buyer anyway). */
  const checkRequestId = (requestId: string) => {
    if (!requestId || ID_PATTERN.test(requestId)) return;
    const v = new Validator();
    v.optionalId("request_id", requestId);
    v.check();
  };
  return {
    async joinQueue(req, ctx) {
      checkRequestId(req.requestId);
      const { ticket, created } = await room.join(req.eventId, actingBuyer(ctx.principal, req.buyerId));
      // Every instance's ticker steps the event from now on.
      if (created) ticker.announce(req.eventId);
      else ticker.track(req.eventId);
      return { ticket: toQueueTicketMessage(ticket) };
    },

    async getQueuePosition(req, ctx) {
      const ticket = await room.position(req.eventId, actingBuyer(ctx.principal, req.buyerId));
      // A buyer asking is a nudge: this instance steps the event from now on.
      ticker.track(req.eventId);
      return { ticket: toQueueTicketMessage(ticket) };
    },

    async watchQueue(req, ctx, send) {
      await watch.watch(req.eventId, actingBuyer(ctx.principal, req.buyerId), ctx.signal, (ticket) =>
        send({ ticket: toQueueTicketMessage(ticket) }),
      );
    },

    async leaveQueue(req, ctx) {
      checkRequestId(req.requestId);
      await room.leave(req.eventId, actingBuyer(ctx.principal, req.buyerId));
      return {};
    },

    async getSigningKeys() {
      await Promise.all([tokens.ring.loadIfEmpty(), deps.ticketTokens.ring.loadIfEmpty()]);
      return {
        keys: [
          ...tokens.jwks().map((k) => ({ ...k, purpose: "admission" })),
          ...deps.ticketTokens.jwks().map((k) => ({ ...k, purpose: "ticket" })),
        ],
      };
    },

    async rotateSigningKey(req) {
      const v = new Validator();
      if (!(KEY_PURPOSES as readonly string[]).includes(req.purpose))
        v.add("purpose", `must be one of ${KEY_PURPOSES.join(", ")}`);
      v.check();
      return { key: signingKeyMessage(await deps.keyAdmin[req.purpose as KeyPurpose].rotate(), req.purpose) };
    },

    async retireSigningKey(req) {
      const v = new Validator();
      v.id("kid", req.kid);
      v.check();
      for (const purpose of KEY_PURPOSES) {
        const retired = await deps.keyAdmin[purpose].retire(req.kid);
        if (retired) {
          return {
            key: signingKeyMessage(retired.key, purpose),
            signingKey: signingKeyMessage(retired.signingKey, purpose),
          };
        }
      }
      throw new AppError("SIGNING_KEY_NOT_FOUND", `no signing key ${req.kid}`, { metadata: { kid: req.kid } });
    },
  };
}
