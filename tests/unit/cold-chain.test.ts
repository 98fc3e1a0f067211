// The cold-chain rules (domain/cold-chain.ts): when readings make an excursion a pharmacist must judge.
import { DEFAULT_COLD_CHAIN_RULES, findExcursion, type TemperatureReading } from '../../domain/cold-chain';

const T0 = Date.parse('2026-11-25T02:00:00Z');
/** One reading a minute from T0, at these temperatures. */
const series = (temps: number[], sensorId?: string): TemperatureReading[] =>
  temps.map((celsius, i) => ({ at: new Date(T0 + i * 60_000).toISOString(), celsius, ...(sensorId ? { sensorId } : {}) }));
const rules = { ...DEFAULT_COLD_CHAIN_RULES, toleranceMs: 10 * 60_000 };

describe('cold-chain excursions', () => {
  it('finds nothing while every reading stays within 2–8 ℃, edges included', () => {
    expect(findExcursion(series([2, 5, 8, 7.9, 2.1, 4]), rules)).toBeNull();
    expect(findExcursion([], rules)).toBeNull();
  });

  it('tolerates a brief departure shorter than the tolerance', () => {
    // 9 ℃ for 5 minutes (door opened at handover), then back in range.
    expect(findExcursion(series([5, 9, 9.5, 10, 9, 8.8, 6, 5]), rules)).toBeNull();
  });

  it('flags a departure longer than the tolerance, measured to the first reading back in range', () => {
    const temps = [5, ...Array(11).fill(9.5), 6];
    const e = findExcursion(series(temps), rules)!;
    expect(e).toMatchObject({ rule: 'duration', firstAt: new Date(T0 + 60_000).toISOString(), lastAt: new Date(T0 + 11 * 60_000).toISOString(), outOfRangeMs: 11 * 60_000, maxC: 9.5, readings: 11 });
    expect(e.why).toMatch(/outside 2–8 ℃ for 11 min \(tolerance 10 min\)/);
    // Exactly the tolerance is not an excursion.
    expect(findExcursion(series([5, ...Array(10).fill(9.5), 6]), rules)).toBeNull();
  });

  it('judges a run still open at the last reading on what is known so far', () => {
    expect(findExcursion(series([5, 9, 9, 9]), rules)).toBeNull();
    expect(findExcursion(series([5, ...Array(12).fill(1.5)]), rules)).toMatchObject({ rule: 'duration', minC: 1.5 });
  });

  it('flags a single reading at or below freezing, however short', () => {
    expect(findExcursion(series([5, 0, 5]), rules)).toMatchObject({ rule: 'frozen', minC: 0, readings: 1 });
    expect(findExcursion(series([5, -3.2, 5]), rules)!.why).toMatch(/-3.2 ℃ .* at or below 0 ℃ \(frozen\)/);
  });

  it('flags a single reading at or above the hard high limit', () => {
    expect(findExcursion(series([5, 25, 5]), rules)).toMatchObject({ rule: 'hard_high', maxC: 25 });
    expect(findExcursion(series([5, 24.9, 5]), rules)).toBeNull();
  });

  it('judges each sensor on its own readings and reports the earliest excursion', () => {
    // Alternating sensors: together they would look like a broken run; each on its own is fine.
    const a = series([5, 9, 5, 9, 5, 9, 5, 9, 5, 9, 5, 9, 5], 'lid');
    const b = series([5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5], 'core').map((r) => ({ ...r, at: new Date(Date.parse(r.at as string) + 30_000).toISOString() }));
    expect(findExcursion([...a, ...b], rules)).toBeNull();
    const frozenLate = series([5, 5, 5, -1], 'core');
    const hotEarly = series([5, 30], 'lid');
    expect(findExcursion([...frozenLate, ...hotEarly], rules)).toMatchObject({ rule: 'hard_high', sensorId: 'lid' });
  });

  it('sorts readings by time: a batch may arrive out of order', () => {
    const temps = [5, ...Array(11).fill(9.5), 6];
    expect(findExcursion(series(temps).reverse(), rules)).toMatchObject({ rule: 'duration', outOfRangeMs: 11 * 60_000 });
  });

  it('uses GSP defaults: 2–8 ℃, 30 minutes, freezing at 0 ℃, 25 ℃ hard limit', () => {
    expect(DEFAULT_COLD_CHAIN_RULES).toEqual({ minC: 2, maxC: 8, toleranceMs: 30 * 60_000, freezeC: 0, hardHighC: 25 });
    expect(findExcursion(series([5, ...Array(25).fill(10), 5]))).toBeNull();
    expect(findExcursion(series([5, ...Array(32).fill(10), 5]))).toMatchObject({ rule: 'duration' });
  });
});
