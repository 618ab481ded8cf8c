// TicketService: verification and check-in at the door, and the revocation
// list for scanners that verify offline.
import { AppError, invalidArgument } from "../../domain/errors.js";
import { Validator } from "../../domain/validation.js";
import {
  type TicketServiceService,
  TicketState,
  type Ticket as TicketMessage,
} from "../../gen/ticketing/v1/ticket_service.js";
import { mayScan, requireScanner, type Principal } from "../../identity/principal.js";
import type { Ticket, Tickets } from "../../tickets/tickets.js";
import type { ServiceHandlers } from "../bind.js";

const STATES: Record<Ticket["state"], TicketState> = {
  VALID: TicketState.TICKET_STATE_VALID,
  CHECKED_IN: TicketState.TICKET_STATE_CHECKED_IN,
  REVOKED: TicketState.TICKET_STATE_REVOKED,
};

function toTicketMessage(t: Ticket): TicketMessage {
  return { ...t, state: STATES[t.state] };
}

function checkCode(v: Validator, code: string): void {
  if (!code) v.add("code", "is required");
  else if (code.length > 2048) v.add("code", "must be at most 2048 characters");
}

function decodeToken(token: string): { revokedAt: Date; ticketId: string } {
  try {
    const [at, ticketId] = JSON.parse(Buffer.from(token, "base64url").toString()) as [string, string];
    const revokedAt = new Date(at);
    if (typeof ticketId !== "string" || Number.isNaN(revokedAt.getTime())) throw new Error("bad token");
    return { revokedAt, ticketId };
  } catch {
    throw invalidArgument([
      { field: "page_token", description: "is not a token from a previous ListRevokedTickets response" },
    ]);
  }
}

export function ticketHandlers(tickets: Tickets): ServiceHandlers<typeof TicketServiceService> {
  return {
    async verifyTicket(req, ctx) {
      requireScanner(ctx.principal);
      const v = new Validator();
      checkCode(v, req.code);
      v.check();
      const ticket = await tickets.verify(req.code);
      if (!mayScan(ctx.principal, ticket.eventId)) throw otherEvent(ctx.principal, ticket.eventId);
      return { ticket: toTicketMessage(ticket) };
    },

    async checkIn(req, ctx) {
      const principal = ctx.principal;
      requireScanner(principal);
      const v = new Validator();
      checkCode(v, req.code);
      // A scanner checks in at its own gate (its token's subject); an operator names the gate.
      const gateId = principal.operator ? req.gateId : req.gateId || principal.subject;
      v.id("gate_id", gateId);
      if (!principal.operator && gateId !== principal.subject)
        v.add("gate_id", "must be empty or the scanner's own gate");
      v.id("request_id", req.requestId);
      v.check();
      const ticket = await tickets.checkIn(req.code, gateId, req.requestId, (eventId) => {
        if (!mayScan(principal, eventId)) throw otherEvent(principal, eventId);
      });
      return { ticket: toTicketMessage(ticket) };
    },

    async listRevokedTickets(req, ctx) {
      requireScanner(ctx.principal);
      const v = new Validator();
      v.id("event_id", req.eventId);
      if (req.pageSize !== 0) v.int("page_size", req.pageSize, 1, 1000);
      v.check();
      if (!mayScan(ctx.principal, req.eventId)) throw otherEvent(ctx.principal, req.eventId);
      const page = await tickets.listRevoked(
        req.eventId,
        req.pageSize || 100,
        req.pageToken ? decodeToken(req.pageToken) : undefined,
      );
      return {
        ticketIds: page.ids,
        // Always a token (the position reached), so a scanner can poll for revocations since.
        nextPageToken: page.last
          ? Buffer.from(JSON.stringify([page.last.revokedAt.toISOString(), page.last.ticketId])).toString("base64url")
          : req.pageToken,
      };
    },
  };
}

function otherEvent(principal: Principal, eventId: string): AppError {
  return new AppError("GATE_EVENT_MISMATCH", `gate ${principal.subject} does not scan for event ${eventId}`, {
    metadata: { event_id: eventId },
  });
}
