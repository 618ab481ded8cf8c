// A payment provider simulator with a ledger in MySQL: configurable latency,
// decline ratio (the classic test: 20 % declined), and injected failures
// (calls that fail before doing anything, and calls whose response is lost
// after the operation happened, to exercise retries and idempotency).
import { createHash } from "node:crypto";
import type { ResultSetHeader, RowDataPacket } from "mysql2/promise";
import type { MysqlPool } from "../adapters/mysql/pool.js";
import {
  PaymentStateError,
  PaymentUnavailableError,
  type AuthorizeRequest,
  type AuthorizeResult,
  type PartialRefund,
  type PaymentGateway,
} from "./gateway.js";

export interface SimulatorOptions {
  /** Latency of every call, uniform in [min, max] milliseconds. */
  latencyMs: { min: number; max: number };
  /** Share of authorizations declined (0..1), decided once per idempotency key. */
  declineRatio: number;
  /** Share of calls that fail before doing anything. */
  failureRatio: number;
  /** Share of calls that do their work and then lose the response. */
  lostResponseRatio: number;
}

/** Payment method tokens with a fixed outcome, for tests and demos. */
export const ALWAYS_APPROVE = "tok_approve";
export const ALWAYS_DECLINE = "tok_decline";
/** Declined: the card needs 3-D Secure, which a server-side checkout cannot do. */
export const AUTHENTICATION_REQUIRED = "tok_authentication_required";
/** Authorized, then voided on the provider's side before capture (an expired authorization). */
export const VOIDED_BY_PROVIDER = "tok_voided_by_provider";

export class PaymentSimulator implements PaymentGateway {
  constructor(
    private readonly mysql: MysqlPool,
    private readonly options: SimulatorOptions,
    private readonly random: () => number = Math.random,
  ) {}

  async authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
    await this.enter();
    const authorizationId = `auth_${createHash("sha256").update(request.paymentKey).digest("base64url").slice(0, 24)}`;
    const token = request.paymentMethodToken;
    const scripted = token === ALWAYS_APPROVE || token === VOIDED_BY_PROVIDER;
    const declined =
      token === ALWAYS_DECLINE ||
      token === AUTHENTICATION_REQUIRED ||
      (!scripted && this.random() < this.options.declineRatio);
    const declineReason = token === AUTHENTICATION_REQUIRED ? "AUTHENTICATION_REQUIRED" : "CARD_DECLINED";
    // INSERT IGNORE: the first decision for a key stands; a retry reads it back.
    const [inserted] = await this.mysql.execute<ResultSetHeader>(
      `INSERT IGNORE INTO simulated_payments
         (authorization_id, idempotency_key, amount_minor, currency_code, state, decline_reason, scenario,
          created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NOW(3), NOW(3))`,
      [
        authorizationId,
        request.paymentKey,
        request.amountMinor,
        request.currencyCode,
        declined ? "DECLINED" : "AUTHORIZED",
        declined ? declineReason : null,
        token === VOIDED_BY_PROVIDER ? "VOIDED_BY_PROVIDER" : null,
      ],
    );
    if (inserted.affectedRows === 1) {
      // This call made the decision: no need to read it back.
      await this.leave();
      return declined
        ? { status: "DECLINED", authorizationId, reason: declineReason }
        : { status: "AUTHORIZED", authorizationId };
    }
    const [rows] = await this.mysql.execute<RowDataPacket[]>(
      "SELECT state, decline_reason FROM simulated_payments WHERE authorization_id = ?",
      [authorizationId],
    );
    const row = rows[0];
    if (!row) throw new PaymentUnavailableError("authorization vanished");
    await this.leave();
    return row.state === "DECLINED"
      ? { status: "DECLINED", authorizationId, reason: String(row.decline_reason) }
      : { status: "AUTHORIZED", authorizationId };
  }

  async capture(paymentKey: string): Promise<void> {
    // The provider's side of a scripted payment: voided before we capture.
    await this.mysql.execute(
      `UPDATE simulated_payments SET state = 'VOIDED', updated_at = NOW(3)
        WHERE idempotency_key = ? AND scenario = 'VOIDED_BY_PROVIDER' AND state = 'AUTHORIZED'`,
      [paymentKey],
    );
    return this.transition(paymentKey, "CAPTURED", ["AUTHORIZED"]);
  }

  void(paymentKey: string): Promise<void> {
    return this.transition(paymentKey, "VOIDED", ["AUTHORIZED"]);
  }

  async refund(paymentKey: string, part?: PartialRefund): Promise<void> {
    if (!part) {
      await this.transition(paymentKey, "REFUNDED", ["CAPTURED"]);
      // What is left of the capture: all of it refunded now.
      await this.mysql.execute(
        "UPDATE simulated_payments SET refunded_minor = amount_minor WHERE idempotency_key = ?",
        [paymentKey],
      );
      return;
    }
    await this.enter();
    const conn = await this.mysql.getConnection();
    try {
      await conn.beginTransaction();
      const [rows] = await conn.execute<RowDataPacket[]>(
        "SELECT state, amount_minor, refunded_minor FROM simulated_payments WHERE idempotency_key = ? FOR UPDATE",
        [paymentKey],
      );
      const row = rows[0];
      const refundKey = `${paymentKey}:refund:${part.refundId}`;
      const [seen] = await conn.execute<RowDataPacket[]>("SELECT 1 FROM simulated_refunds WHERE refund_key = ?", [
        refundKey,
      ]);
      // A retry of a refund made, or a payment refunded in full already: nothing more to give back.
      if (seen.length === 0 && row?.state !== "REFUNDED") {
        const refunded = Number(row?.refunded_minor ?? 0) + part.amountMinor;
        if (!row || row.state !== "CAPTURED" || refunded > Number(row.amount_minor)) {
          throw new PaymentStateError(
            `cannot refund ${part.amountMinor} of payment ${paymentKey} (${row ? `${String(row.state)}, ${String(row.refunded_minor)} of ${String(row.amount_minor)} refunded` : "nothing"})`,
          );
        }
        await conn.execute(
          "INSERT INTO simulated_refunds (refund_key, idempotency_key, amount_minor, created_at) VALUES (?, ?, ?, NOW(3))",
          [refundKey, paymentKey, part.amountMinor],
        );
        await conn.execute(
          "UPDATE simulated_payments SET refunded_minor = ?, state = ?, updated_at = NOW(3) WHERE idempotency_key = ?",
          [refunded, refunded === Number(row.amount_minor) ? "REFUNDED" : "CAPTURED", paymentKey],
        );
      }
      await conn.commit();
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    } finally {
      conn.release();
    }
    await this.leave();
  }

  /** Moves a payment to `to` from one of `from`; already at `to` is success (idempotent). */
  private async transition(paymentKey: string, to: string, from: string[]): Promise<void> {
    await this.enter();
    const [result] = await this.mysql.execute<ResultSetHeader>(
      `UPDATE simulated_payments SET state = ?, updated_at = NOW(3)
        WHERE idempotency_key = ? AND state IN (${from.map(() => "?").join(",")})`,
      [to, paymentKey, ...from],
    );
    if (result.affectedRows === 0) {
      const [rows] = await this.mysql.execute<RowDataPacket[]>(
        "SELECT state FROM simulated_payments WHERE idempotency_key = ?",
        [paymentKey],
      );
      const state = rows[0]?.state as string | undefined;
      // Voiding an authorization that never happened, or was declined, is harmless.
      const harmless = to === "VOIDED" && (state === undefined || state === "DECLINED");
      if (state !== to && !harmless) {
        throw new PaymentStateError(
          `cannot move payment ${paymentKey} from ${state ?? "nothing"} to ${to}`,
          to === "CAPTURED" && state === "VOIDED" ? "AUTHORIZATION_VOIDED" : "PAYMENT_STATE",
        );
      }
    }
    await this.leave();
  }

  private async enter(): Promise<void> {
    await this.delay();
    if (this.random() < this.options.failureRatio)
      throw new PaymentUnavailableError("payment provider unavailable (simulated)");
  }

  private async leave(): Promise<void> {
    if (this.random() < this.options.lostResponseRatio) {
      throw new PaymentUnavailableError("payment provider response lost (simulated)");
    }
  }

  private delay(): Promise<void> {
    const { min, max } = this.options.latencyMs;
    const ms = min + this.random() * (max - min);
    return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
  }
}
