// Field-by-field validation that collects every violation before failing, so
// one INVALID_ARGUMENT names all bad fields. Field paths use proto names.
import { invalidArgument, type FieldViolation } from "./errors.js";

/** Event, buyer, hold, order and request ids: safe inside a Redis hash tag. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Section and row ids: no '-', so a seat id `section-row-number` splits back. */
export const SHORT_ID_PATTERN = /^[A-Za-z0-9_]{1,16}$/;

export class Validator {
  readonly violations: FieldViolation[] = [];

  add(field: string, description: string): void {
    this.violations.push({ field, description });
  }

  /** A required id matching ID_PATTERN. */
  id(field: string, value: string | undefined): string {
    if (!value) this.add(field, "is required");
    else if (!ID_PATTERN.test(value)) this.add(field, "must be 1-64 characters of A-Z a-z 0-9 _ -");
    return value ?? "";
  }

  /** An optional id: empty is fine, anything else must match ID_PATTERN. */
  optionalId(field: string, value: string | undefined): string {
    if (value && !ID_PATTERN.test(value)) this.add(field, "must be 1-64 characters of A-Z a-z 0-9 _ -");
    return value ?? "";
  }

  shortId(field: string, value: string | undefined): string {
    if (!value) this.add(field, "is required");
    else if (!SHORT_ID_PATTERN.test(value)) this.add(field, "must be 1-16 characters of A-Z a-z 0-9 _");
    return value ?? "";
  }

  text(field: string, value: string | undefined, max: number, required = true): string {
    if (!value) {
      if (required) this.add(field, "is required");
    } else if (value.length > max) this.add(field, `must be at most ${max} characters`);
    return value ?? "";
  }

  int(field: string, value: number | undefined, min: number, max: number): number {
    const v = value ?? 0;
    if (!Number.isInteger(v) || v < min || v > max) this.add(field, `must be an integer in ${min}..${max}`);
    return v;
  }

  required<T>(field: string, value: T | undefined | null): value is T {
    if (value === undefined || value === null) {
      this.add(field, "is required");
      return false;
    }
    return true;
  }

  get ok(): boolean {
    return this.violations.length === 0;
  }

  /** Throws INVALID_ARGUMENT if anything was wrong. */
  check(): void {
    if (!this.ok) throw invalidArgument(this.violations);
  }
}
