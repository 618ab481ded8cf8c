// Adaptive admission's settings (proto AdaptiveAdmission): bounds, defaults
// and validation, shared by CreateEvent and UpdateWaitingRoom. The controller
// that follows them is src/queue/adaptive-admission.ts.
import type { Validator } from "../domain/validation.js";
import type { AdaptiveAdmission } from "./layout.js";

export const ADAPTIVE_LIMITS = {
  rate: [1, 10_000],
  step: [1, 10_000],
  cutFactor: [0.1, 0.95],
  intervalSeconds: [1, 60],
  targetHoldP99Ms: [1, 60_000],
  targetCheckoutBacklog: [1, 1_000_000],
  targetErrorRatio: [0.0001, 1],
} as const;

export const ADAPTIVE_DEFAULTS = {
  minAdmissionsPerSecond: 1,
  maxAdmissionsPerSecond: 10_000,
  stepPerInterval: 5,
  cutFactor: 0.5,
  intervalSeconds: 5,
  targetHoldP99Ms: 250,
  targetCheckoutBacklog: 100,
  targetErrorRatio: 0.01,
} as const;

/**
 * The adaptive block with its defaults applied, checked against the limits
 * and the fixed rate (its starting point, within min..max); undefined when
 * absent or off, which is how a layout stores "off".
 */
export function adaptiveAdmission(
  v: Validator,
  field: string,
  given: Partial<AdaptiveAdmission> | undefined,
  admissionsPerSecond: number,
): AdaptiveAdmission | undefined {
  if (!given?.enabled) return undefined;
  const a: AdaptiveAdmission = {
    enabled: true,
    minAdmissionsPerSecond: given.minAdmissionsPerSecond || ADAPTIVE_DEFAULTS.minAdmissionsPerSecond,
    maxAdmissionsPerSecond: given.maxAdmissionsPerSecond || ADAPTIVE_DEFAULTS.maxAdmissionsPerSecond,
    stepPerInterval: given.stepPerInterval || ADAPTIVE_DEFAULTS.stepPerInterval,
    cutFactor: given.cutFactor || ADAPTIVE_DEFAULTS.cutFactor,
    intervalSeconds: given.intervalSeconds || ADAPTIVE_DEFAULTS.intervalSeconds,
    targetHoldP99Ms: given.targetHoldP99Ms || ADAPTIVE_DEFAULTS.targetHoldP99Ms,
    targetCheckoutBacklog: given.targetCheckoutBacklog || ADAPTIVE_DEFAULTS.targetCheckoutBacklog,
    targetErrorRatio: given.targetErrorRatio || ADAPTIVE_DEFAULTS.targetErrorRatio,
  };
  const L = ADAPTIVE_LIMITS;
  v.int(`${field}.min_admissions_per_second`, a.minAdmissionsPerSecond, ...L.rate);
  v.int(`${field}.max_admissions_per_second`, a.maxAdmissionsPerSecond, ...L.rate);
  if (a.minAdmissionsPerSecond > a.maxAdmissionsPerSecond)
    v.add(`${field}.max_admissions_per_second`, "must be at least min_admissions_per_second");
  else if (admissionsPerSecond < a.minAdmissionsPerSecond || admissionsPerSecond > a.maxAdmissionsPerSecond)
    v.add(
      `${field}.min_admissions_per_second`,
      `admissions_per_second (${admissionsPerSecond}, where the adaptive rate starts) must lie in min..max`,
    );
  v.int(`${field}.step_per_interval`, a.stepPerInterval, ...L.step);
  number(v, `${field}.cut_factor`, a.cutFactor, ...L.cutFactor);
  v.int(`${field}.interval_seconds`, a.intervalSeconds, ...L.intervalSeconds);
  v.int(`${field}.target_hold_p99_ms`, a.targetHoldP99Ms, ...L.targetHoldP99Ms);
  v.int(`${field}.target_checkout_backlog`, a.targetCheckoutBacklog, ...L.targetCheckoutBacklog);
  number(v, `${field}.target_error_ratio`, a.targetErrorRatio, ...L.targetErrorRatio);
  return a;
}

function number(v: Validator, field: string, value: number, min: number, max: number): void {
  if (!Number.isFinite(value) || value < min || value > max) v.add(field, `must be a number in ${min}..${max}`);
}
