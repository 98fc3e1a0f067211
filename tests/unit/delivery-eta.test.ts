// Promised windows, ETAs and lateness (domain/delivery-eta.ts); the proof-of-delivery code
// (domain/proof-code.ts); the label's storage lines (domain/storage-label.ts).
import { DEFAULT_ETA_CONFIG, etaFor, isLate, promisedBy, transitMs, type EtaConfig } from '../../domain/delivery-eta';
import { checkProofCode, formatProofCode, PROOF_CODE_MAX_FAILURES, proofCodeHash, proofCodeMatches } from '../../domain/proof-code';
import { storageLabel } from '../../domain/storage-label';

const MIN = 60_000;
const at = new Date('2026-11-25T02:00:00Z');
const c: EtaConfig = { defaultWindowMs: 1440 * MIN, sameDayWindowMs: 360 * MIN, expressWindowMs: 30 * MIN, pickupLeadMs: 20 * MIN, transitBaseMs: 10 * MIN, transitPerKmMs: 4 * MIN };

describe('promised window', () => {
  it('is the fastest promise the partner makes, from dispatch', () => {
    expect(promisedBy(at, { sameDay: false }, c).getTime() - at.getTime()).toBe(1440 * MIN);
    expect(promisedBy(at, { sameDay: true }, c).getTime() - at.getTime()).toBe(360 * MIN);
    expect(promisedBy(at, { sameDay: true, thirtyMinute: true }, c).getTime() - at.getTime()).toBe(30 * MIN);
  });
  it('defaults to 24 h, same day 6 h, express 30 min', () => {
    expect(DEFAULT_ETA_CONFIG).toMatchObject({ defaultWindowMs: 1440 * MIN, sameDayWindowMs: 360 * MIN, expressWindowMs: 30 * MIN });
  });
});

describe('ETA per status', () => {
  it('transit is a fixed part plus a part per km; unknown distance counts as 5 km', () => {
    expect(transitMs(3, c)).toBe(22 * MIN);
    expect(transitMs(null, c)).toBe(30 * MIN);
    expect(transitMs(-1, c)).toBe(10 * MIN);
  });
  it('assigned: pickup lead + transit; picked_up: transit; in_transit: half the transit; over: none', () => {
    expect(etaFor('assigned', at, 3, c)!.getTime() - at.getTime()).toBe(42 * MIN);
    expect(etaFor('picked_up', at, 3, c)!.getTime() - at.getTime()).toBe(22 * MIN);
    expect(etaFor('in_transit', at, 3, c)!.getTime() - at.getTime()).toBe(11 * MIN);
    expect(etaFor('delivered', at, 3, c)).toBeNull();
    expect(etaFor('failed', at, 3, c)).toBeNull();
  });
});

describe('lateness', () => {
  it('is late only strictly after the window; no window, never late', () => {
    const promised = new Date(at.getTime() + 30 * MIN);
    expect(isLate(promised, new Date(at.getTime() + 30 * MIN))).toBe(false);
    expect(isLate(promised, new Date(at.getTime() + 30 * MIN + 1))).toBe(true);
    expect(isLate(null, new Date(8.64e15))).toBe(false);
  });
});

describe('proof-of-delivery code', () => {
  const key = Buffer.alloc(32, 7);
  const id = '6f1c2f9e-0000-4000-8000-000000000001';
  it('is six digits, zero-padded', () => {
    expect(formatProofCode(42)).toBe('000042');
    expect(formatProofCode(999_999)).toBe('999999');
  });
  it('is stored as a keyed hash bound to the delivery: not the code, not reusable on another delivery', () => {
    const h = proofCodeHash(key, id, '123456');
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(h).not.toContain('123456');
    expect(proofCodeMatches(key, id, h, '123456')).toBe(true);
    expect(proofCodeMatches(key, id, h, '123457')).toBe(false);
    expect(proofCodeMatches(key, id.replace(/1$/, '2'), h, '123456')).toBe(false);
    expect(proofCodeMatches(Buffer.alloc(32, 8), id, h, '123456')).toBe(false);
    expect(proofCodeMatches(key, id, h, '12345')).toBe(false);
  });
  it('locks after the fifth wrong try, whatever is offered then', () => {
    const h = proofCodeHash(key, id, '123456');
    expect(PROOF_CODE_MAX_FAILURES).toBe(5);
    expect(checkProofCode(key, id, h, 4, '000000')).toBe('invalid');
    expect(checkProofCode(key, id, h, 4, '123456')).toBe('ok');
    expect(checkProofCode(key, id, h, 5, '123456')).toBe('locked');
  });
});

describe('storage on the label', () => {
  it('the strictest line decides', () => {
    expect(storageLabel(['normal', 'cold', 'cool'])).toEqual(['冷藏 2–8 ℃', '请勿冷冻', '避光']);
    expect(storageLabel(['normal', 'cool'])).toEqual(['阴凉 ≤20 ℃', '避光']);
    expect(storageLabel(['normal'])).toEqual(['常温 10–30 ℃']);
    expect(storageLabel([])).toEqual(['常温 10–30 ℃']);
  });
});
