// Cold chain (冷链) for lines stored at 2–8 ℃ (冷藏): when the courier's temperature readings make an
// excursion a pharmacist must judge (docs/delivery.md, "Cold chain"). Pure: readings and rules in, a
// verdict out. The rules follow GSP practice for refrigerated drugs (insulin, biologics):
// - frozen: any reading at or below `freezeC` (0 ℃). Freezing denatures insulin and biologics; one reading
//   is enough, however short.
// - hard_high: any reading at or above `hardHighC` (25 ℃), the most a refrigerated drug tolerates at all.
// - duration: readings outside [minC, maxC] (2–8 ℃) without a break for longer than `toleranceMs` (30 min
//   by default, RX_COLD_CHAIN_TOLERANCE_MS). A door opened at handover, a sensor near the lid: brief
//   departures are normal and not flagged.
// Each sensor is judged on its own readings (a parcel may carry several loggers); the first excursion found
// in time order is reported.

export interface TemperatureReading { at: string | Date; celsius: number; sensorId?: string | null }

export interface ColdChainRules {
  minC: number;
  maxC: number;
  toleranceMs: number;
  freezeC: number;
  hardHighC: number;
}

export const DEFAULT_COLD_CHAIN_RULES: ColdChainRules = { minC: 2, maxC: 8, toleranceMs: 30 * 60_000, freezeC: 0, hardHighC: 25 };

export type ExcursionRule = 'frozen' | 'hard_high' | 'duration';

export interface Excursion {
  rule: ExcursionRule;
  sensorId: string;
  /** First and last reading of the out-of-range run that made the excursion. */
  firstAt: string;
  lastAt: string;
  /** How long the run lasted (to the first reading back in range, or the last reading so far). */
  outOfRangeMs: number;
  minC: number;
  maxC: number;
  readings: number;
  /** Human reason, in the rules' own terms. */
  why: string;
}

const iso = (t: number) => new Date(t).toISOString();

/** The first excursion in these readings under `rules`, or null when the drug stayed within them. */
export function findExcursion(readings: readonly TemperatureReading[], rules: ColdChainRules = DEFAULT_COLD_CHAIN_RULES): Excursion | null {
  const bySensor = new Map<string, { t: number; c: number }[]>();
  for (const r of readings) {
    const key = r.sensorId ?? '';
    const list = bySensor.get(key) ?? [];
    list.push({ t: new Date(r.at).getTime(), c: r.celsius });
    bySensor.set(key, list);
  }
  const found: Excursion[] = [];
  for (const [sensorId, list] of bySensor) {
    list.sort((a, b) => a.t - b.t);
    const e = sensorExcursion(sensorId, list, rules);
    if (e) found.push(e);
  }
  // The earliest excursion in time: the one the pharmacist hears about first.
  found.sort((a, b) => (a.firstAt < b.firstAt ? -1 : a.firstAt > b.firstAt ? 1 : 0));
  return found[0] ?? null;
}

function sensorExcursion(sensorId: string, list: { t: number; c: number }[], rules: ColdChainRules): Excursion | null {
  const outside = (c: number) => c < rules.minC || c > rules.maxC;
  let run: { t: number; c: number }[] = [];
  const close = (endT: number): Excursion | null => {
    if (!run.length) return null;
    const cs = run.map((r) => r.c);
    const base = { sensorId, firstAt: iso(run[0].t), lastAt: iso(run[run.length - 1].t), outOfRangeMs: endT - run[0].t, minC: Math.min(...cs), maxC: Math.max(...cs), readings: run.length };
    const frozen = run.find((r) => r.c <= rules.freezeC);
    if (frozen) return { ...base, rule: 'frozen', why: `${frozen.c} ℃ at ${iso(frozen.t)}: at or below ${rules.freezeC} ℃ (frozen)` };
    const hot = run.find((r) => r.c >= rules.hardHighC);
    if (hot) return { ...base, rule: 'hard_high', why: `${hot.c} ℃ at ${iso(hot.t)}: at or above ${rules.hardHighC} ℃` };
    if (base.outOfRangeMs > rules.toleranceMs) {
      return { ...base, rule: 'duration', why: `outside ${rules.minC}–${rules.maxC} ℃ for ${Math.round(base.outOfRangeMs / 60_000)} min (tolerance ${Math.round(rules.toleranceMs / 60_000)} min)` };
    }
    return null;
  };
  for (const r of list) {
    if (outside(r.c)) { run.push(r); continue; }
    const e = close(r.t);
    if (e) return e;
    run = [];
  }
  // A run still open at the last reading: judged on what is known so far (it may grow with later readings).
  return close(run.length ? run[run.length - 1].t : 0);
}
