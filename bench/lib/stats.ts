export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** What one call costs each process sharing the machine's cores, µs of CPU per call. */
export interface CpuSplit {
  ghz: number;
  api: number;
  redis: number;
}

/**
 * The ratios a call's CPU per call bounds against Noop's on shared cores: the
 * whole-machine CPU-derived ratio, the ceiling if the call cost the API no
 * more than Noop, and (given the one-script baseline Eval) the ceiling if it
 * cost the API no more than a bare script call.
 */
export function cpuCeilings(noop: CpuSplit, call: CpuSplit, oneScript?: CpuSplit) {
  const total = (x: CpuSplit) => x.ghz + x.api + x.redis;
  return {
    machineCpuRatio: round(total(noop) / total(call), 3),
    ceilingIfApiFree: round(total(noop) / (call.ghz + noop.api + call.redis), 3),
    ceilingIfApiAtEval: oneScript ? round(total(noop) / (call.ghz + oneScript.api + call.redis), 3) : undefined,
  };
}
