// Choosing a delivery partner (domain/delivery.ts) and signing a partner's update (sdk/partner.ts),
// without services. The worked signature example of docs/delivery.md is reproduced here.
import fs from 'node:fs';
import path from 'node:path';
import { choosePartner, neededCapabilities, promisedWindow, regionPrefix, servesArea, type PartnerProfile } from '../../domain/delivery';
import { canDeliveryTransition, DELIVERY_STATUSES, nextDeliveryStatuses, sameDeliveryContent } from '../../domain/prescription-status';
import { checkPartnerSignature, computePartnerSignature, signPartnerRequest } from '../../sdk/partner';
import { activePartnerSecrets, openPartnerSecret, rotatePartnerSecrets } from '../../engine/partner-config';

const WEST_LAKE = { lat: 30.2788, lng: 120.1325 };
const partner = (code: string, o: Partial<PartnerProfile> = {}): PartnerProfile => ({
  code, active: true, area: { regions: ['330100'] }, capabilities: [], promisedMinutes: { standard: 60 }, ...o,
});
const to = { regionCode: '330106', point: WEST_LAKE };

describe('service areas', () => {
  it('reads a region code with its trailing zero pairs as the whole of that level', () => {
    expect(regionPrefix('330100')).toBe('3301');
    expect(regionPrefix('330000')).toBe('33');
    expect(regionPrefix('330106')).toBe('330106');
    expect(servesArea({ regions: ['330100'] }, to)).toBe(true);
    expect(servesArea({ regions: ['330000'] }, to)).toBe(true);
    expect(servesArea({ regions: ['330200'] }, to)).toBe(false); // Ningbo
    expect(servesArea({ regions: ['330106'] }, { regionCode: '330105', point: null })).toBe(false);
  });

  it('serves by centre and radius where no region matches', () => {
    expect(servesArea({ centre: { lat: 30.27, lng: 120.13 }, radiusKm: 3 }, { regionCode: '310000', point: WEST_LAKE })).toBe(true);
    expect(servesArea({ centre: { lat: 30.0, lng: 120.13 }, radiusKm: 3 }, { regionCode: '310000', point: WEST_LAKE })).toBe(false);
    expect(servesArea({ centre: { lat: 30.27, lng: 120.13 }, radiusKm: 3 }, { regionCode: '330106', point: null })).toBe(false);
    expect(servesArea({ anywhere: true }, { regionCode: null, point: null })).toBe(true);
    expect(servesArea({}, to)).toBe(false);
  });
});

describe('choosing a partner', () => {
  const sf = partner('SF', { capabilities: ['cold_chain', 'same_day'], promisedMinutes: { standard: 60, cold_chain: 90, same_day: 240 } });
  const dada = partner('DADA', { capabilities: ['same_day'], promisedMinutes: { standard: 45, same_day: 180 } });
  const far = partner('FAR', { area: { regions: ['330200'] }, promisedMinutes: { standard: 10 } });
  const off = partner('OFF', { active: false, promisedMinutes: { standard: 5 } });

  it('needs cold chain exactly when a line is stored at 2–8 ℃', () => {
    expect(neededCapabilities({ coldChain: true })).toEqual(['cold_chain']);
    expect(neededCapabilities({ coldChain: false })).toEqual([]);
    expect(neededCapabilities({ coldChain: true, extra: ['cold_chain', 'express_30min'] })).toEqual(['cold_chain', 'express_30min']);
  });

  it('ranks the eligible by promised window, then code; says why each other one is out', () => {
    const c = choosePartner([sf, dada, far, off], { to, needs: [] });
    expect(c.chosen?.code).toBe('DADA');
    expect(c.ranked).toEqual([{ code: 'DADA', promisedMinutes: 45 }, { code: 'SF', promisedMinutes: 60 }]);
    expect(c.excluded).toEqual([{ code: 'FAR', reasons: ['outside_area'] }, { code: 'OFF', reasons: ['inactive'] }]);
    const tie = choosePartner([partner('B'), partner('A')], { to, needs: [] });
    expect(tie.chosen?.code).toBe('A');
  });

  it('sends a cold-chain parcel only to a cold-chain partner, by its cold-chain window', () => {
    const c = choosePartner([sf, dada], { to, needs: ['cold_chain'] });
    expect(c.chosen?.code).toBe('SF');
    expect(c.ranked).toEqual([{ code: 'SF', promisedMinutes: 90 }]);
    expect(c.excluded).toEqual([{ code: 'DADA', reasons: ['missing_cold_chain'] }]);
    expect(choosePartner([dada], { to, needs: ['cold_chain'] }).chosen).toBeNull();
  });

  it('passes over the partner whose attempt just failed, unless it is the only one', () => {
    const c = choosePartner([sf, dada], { to, needs: [], lastFailed: 'DADA' });
    expect(c.chosen?.code).toBe('SF');
    expect(c.excluded).toEqual([{ code: 'DADA', reasons: ['failed_last_attempt'] }]);
    expect(choosePartner([dada], { to, needs: [], lastFailed: 'DADA' }).chosen?.code).toBe('DADA');
  });

  it('takes the slowest window among the needed capabilities; none promised is never first', () => {
    expect(promisedWindow(sf, ['cold_chain', 'same_day'])).toBe(240);
    expect(promisedWindow(partner('X', { promisedMinutes: {} }), [])).toBe(Infinity);
    expect(choosePartner([partner('A', { promisedMinutes: {} }), partner('Z')], { to, needs: [] }).chosen?.code).toBe('Z');
  });
});

describe('the delivery state machine', () => {
  it('is created → assigned → picked_up → in_transit → delivered, failed from any of them, then returned', () => {
    const legal = DELIVERY_STATUSES.flatMap((f) => DELIVERY_STATUSES.filter((t) => canDeliveryTransition(f, t)).map((t) => `${f}→${t}`));
    expect(legal.sort()).toEqual([
      'assigned→failed', 'assigned→picked_up', 'created→assigned', 'created→failed', 'failed→returned',
      'in_transit→delivered', 'in_transit→failed', 'picked_up→failed', 'picked_up→in_transit',
    ]);
    expect(nextDeliveryStatuses('delivered')).toEqual([]);
    expect(nextDeliveryStatuses('returned')).toEqual([]);
  });

  it('recognises a repeat by its content, key order aside', () => {
    expect(sameDeliveryContent({ note: 'x', proof: { kind: 'code', reference: '1' } }, { note: 'x', proof: { reference: '1', kind: 'code' } })).toBe(true);
    expect(sameDeliveryContent({ note: 'x' }, { note: 'y' })).toBe(false);
    expect(sameDeliveryContent({}, {})).toBe(true);
    expect(sameDeliveryContent(undefined, {})).toBe(false);
  });
});

describe('signed partner updates (sdk/partner.ts)', () => {
  // The worked example of docs/delivery.md.
  const example = { secret: 'psk_example_secret', timestamp: 1795000000, updateId: 'upd-0001-example', method: 'POST', path: '/v1/deliveries/9b2f6c1e-0d7a-4a53-9a61-3c1f0e2b7d10/status', body: '{"status":"picked_up","note":"取件"}' };

  it('reproduces the signature in docs/delivery.md', () => {
    const sig = computePartnerSignature(example.secret, example.timestamp, example.updateId, example.method, example.path, example.body);
    const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/delivery.md'), 'utf8');
    expect(doc).toContain(`t=${example.timestamp},v1=${sig}`);
    expect(doc).toContain(example.body);
  });

  it('verifies what it signs, and refuses another secret, body, path, update id or a stale timestamp', () => {
    const now = example.timestamp * 1000;
    const h = signPartnerRequest(example.secret, example);
    const check = (o: Partial<typeof example> & { secrets?: string[]; at?: number }) => checkPartnerSignature(o.secrets ?? [example.secret], {
      header: h['x-rxflow-signature'], updateId: o.updateId ?? example.updateId, method: o.method ?? 'POST', path: o.path ?? example.path, body: o.body ?? example.body, now: o.at ?? now,
    }).problem;
    expect(check({})).toBeNull();
    expect(check({ secrets: ['old', example.secret] })).toBeNull(); // during a rotation
    expect(check({ secrets: ['other'] })).toBe('BAD_SIGNATURE');
    expect(check({ body: '{"status":"delivered"}' })).toBe('BAD_SIGNATURE');
    expect(check({ path: '/v1/deliveries/x/status' })).toBe('BAD_SIGNATURE');
    expect(check({ updateId: 'upd-0002-example' })).toBe('BAD_SIGNATURE');
    expect(check({ method: 'PUT' })).toBe('BAD_SIGNATURE');
    expect(check({ at: now + 301_000 })).toBe('STALE_REQUEST');
    expect(check({ at: now - 301_000 })).toBe('STALE_REQUEST');
    expect(checkPartnerSignature([example.secret], { header: undefined, updateId: example.updateId, method: 'POST', path: example.path, body: '' }).problem).toBe('SIGNATURE_MISSING');
    expect(checkPartnerSignature([example.secret], { header: 't=abc', updateId: example.updateId, method: 'POST', path: example.path, body: '' }).problem).toBe('BAD_SIGNATURE');
    expect(() => signPartnerRequest('s', { method: 'POST', path: '/', body: '', updateId: 'short' })).toThrow();
  });
});

describe('partner secrets', () => {
  it('keeps at most two active during a rotation, sealed with the data keys', () => {
    const t0 = Date.parse('2026-11-25T00:00:00Z');
    const one = rotatePartnerSecrets([], 'first', 60_000, t0);
    expect(one).toHaveLength(1);
    expect(one[0].sealed).toMatch(/^enc:/);
    expect(openPartnerSecret(one[0].sealed)).toBe('first');
    const two = rotatePartnerSecrets(one, 'second', 60_000, t0 + 1000);
    expect(activePartnerSecrets(two, t0 + 2000).map((s) => openPartnerSecret(s.sealed))).toEqual(['second', 'first']);
    expect(activePartnerSecrets(two, t0 + 1000 + 60_001).map((s) => openPartnerSecret(s.sealed))).toEqual(['second']);
    const three = rotatePartnerSecrets(two, 'third', 60_000, t0 + 3000);
    expect(three.map((s) => openPartnerSecret(s.sealed))).toEqual(['third', 'second']);
  });
});
