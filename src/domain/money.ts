// Money is an integer number of the currency's minor units (cents, yen,
// fils), never a fraction. The bounds below keep every order total exact in
// a JavaScript number: a price is at most MAX_PRICE_MINOR and an order holds
// at most MAX_TICKETS_PER_ORDER tickets (an event's max_tickets_per_buyer is
// capped there), so a total stays below 2^53 with room to spare; the sum is
// checked all the same, so a bound changed later fails loudly, not by rounding.
import { AppError } from "./errors.js";

/** The most one ticket may cost, in minor units (10^10: 100,000,000.00 in a 2-digit currency). */
export const MAX_PRICE_MINOR = 10_000_000_000;
/** The most tickets one order (hence one buyer, per event) may hold. */
export const MAX_TICKETS_PER_ORDER = 100;

/** ISO 4217 codes this runtime knows (ICU's list, as Intl gives it). */
const ISO_4217: ReadonlySet<string> = new Set(Intl.supportedValuesOf("currency"));

/** Whether `code` is an ISO 4217 currency code. */
export function isCurrencyCode(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && ISO_4217.has(code);
}

/** The minor-unit exponent of a currency code of three letters (ISO 4217): EUR 2, JPY 0, KWD 3. */
export function minorUnitDigits(code: string): number {
  return new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions().maximumFractionDigits!;
}

/** Sum of minor-unit amounts, checked: every term and the total are exact integers. */
export function totalMinor(amounts: Iterable<number>): number {
  let total = 0;
  for (const a of amounts) {
    if (!Number.isSafeInteger(a) || a < 0)
      throw new AppError("INTERNAL", `amount ${a} is not a whole number of minor units`);
    total += a;
    if (!Number.isSafeInteger(total)) throw new AppError("INTERNAL", "order total exceeds the exact integer range");
  }
  return total;
}

/** price × quantity, checked. */
export function timesMinor(priceMinor: number, quantity: number): number {
  if (!Number.isSafeInteger(quantity) || quantity < 0)
    throw new AppError("INTERNAL", `quantity ${quantity} is not a whole number`);
  const total = priceMinor * quantity;
  if (!Number.isSafeInteger(priceMinor) || !Number.isSafeInteger(total))
    throw new AppError("INTERNAL", "order total exceeds the exact integer range");
  return total;
}
