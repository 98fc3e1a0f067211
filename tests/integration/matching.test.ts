// Pharmacy matching against the real Elasticsearch projection of PostgreSQL stock: who is excluded
// (closed, out of range, no cold chain), how the rest are ranked and why, and a basket nobody can fill.
import { Client as EsClient } from '@elastic/elasticsearch';
import type { EntityManager } from '@mikro-orm/postgresql';
import { openOrm } from '../../db/orm';
import { loadConfig } from '../../engine/config';
import { matchPharmacies } from '../../catalog/queries';
import { shelfReader } from '../../catalog/shelf';
import { indexStock, stockDocuments } from '../../catalog/ingest';
import { DEFAULT_WEIGHTS, minuteOfDay } from '../../domain/matching';
import { drugByName, demoPrescription, signAsDemoHospital } from '../../demo/prescriptions';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { actions, actors, approve, closeDb, sql } from './helpers';

const config = loadConfig();
const es = new EsClient({ node: config.elasticsearchUrl });
const near = { lat: 30.2788, lng: 120.1325 };
const amlodipine = drugByName('苯磺酸氨氯地平片').code;
const shelves = shelfReader((q, p) => sql(q, p));
const match = (over: Partial<Parameters<typeof matchPharmacies>[2]> = {}) =>
  matchPharmacies(es, config.indexPrefix, { lines: [{ drugCode: amlodipine, quantity: 1 }], near, radiusKm: 10, needsColdChain: false, openAtMinute: minuteOfDay('10:30'), ...over }, shelves);

afterAll(async () => { await es.close(); await closeDb(); });

describe('pharmacy matching', () => {
  it('offers only pharmacies open at the time', async () => {
    const atNight = await match({ openAtMinute: minuteOfDay('03:00') });
    const byDay = await match();
    expect(byDay.length).toBeGreaterThan(atNight.length);
    const hours = new Map((await sql(`select code, is24h from pharmacy`)).map((r) => [r.code, r.is24h]));
    for (const c of atNight) expect(hours.get(c.pharmacyCode)).toBe(true);
  });

  it('keeps to the search radius and to each pharmacy\'s own delivery radius', async () => {
    const all = await match();
    for (const c of all) expect(c.distanceKm).toBeLessThanOrEqual(Math.min(10, c.deliveryRadiusKm));
    const target = all[0].pharmacyCode;
    const orm = await openOrm(config.databaseUrl);
    try {
      await sql(`update pharmacy set delivery_radius_km = 0.05 where code = ?`, [target]);
      const [{ id }] = await sql(`select id from pharmacy where code = ?`, [target]);
      await indexStock(es, config.indexPrefix, await stockDocuments(orm.em.fork() as EntityManager, [id]));
      expect((await match()).map((c) => c.pharmacyCode)).not.toContain(target);
      await sql(`update pharmacy set delivery_radius_km = 5 where code = ?`, [target]);
      await indexStock(es, config.indexPrefix, await stockDocuments(orm.em.fork() as EntityManager, [id]));
      expect((await match()).map((c) => c.pharmacyCode)).toContain(target);
    } finally {
      await orm.close();
    }
  });

  it('sends cold-chain lines only to pharmacies that keep 2–8℃', async () => {
    const insulin = drugByName('甘精胰岛素').code;
    const cold = await match({ lines: [{ drugCode: insulin, quantity: 1 }], needsColdChain: true });
    expect(cold.length).toBeGreaterThan(0);
    const coldChain = new Map((await sql(`select code, cold_chain from pharmacy`)).map((r) => [r.code, r.cold_chain]));
    for (const c of cold) expect(coldChain.get(c.pharmacyCode)).toBe(true);
  });

  it('explains its ranking: every candidate carries the components of its score, best first', async () => {
    const ranked = await match({ patientPays: (prices) => Math.round(prices.get(amlodipine)! * 0.3) });
    expect(ranked.length).toBeGreaterThan(2);
    for (const c of ranked) {
      const { distance, price, margin, reliability, total } = c.score;
      const weighted = DEFAULT_WEIGHTS.distance * distance + DEFAULT_WEIGHTS.price * price + DEFAULT_WEIGHTS.margin * margin + DEFAULT_WEIGHTS.reliability * reliability;
      expect(total).toBeCloseTo(weighted, 2);
      expect(c.patientPaysFen).toBe(Math.round(c.totalPriceFen * 0.3));
    }
    const totals = ranked.map((c) => c.score.total);
    expect([...totals].sort((a, b) => b - a)).toEqual(totals);
  });

  it('ends a basket no pharmacy in range can fill as unfulfillable, naming the lines, and tells the hospital', async () => {
    const a = actors();
    // A drug in the catalogue that no pharmacy stocks.
    await sql(`insert into drug (code, generic_name_zh, data, updated_at) select 'RXT-NOSTOCK', generic_name_zh, jsonb_set(data, '{code}', '"RXT-NOSTOCK"'), now() from drug where code = ? on conflict do nothing`, [amlodipine]);
    const rx = demoPrescription();
    rx.lines[1] = { ...rx.lines[1], drugCode: 'RXT-NOSTOCK' };
    const { signature: _old, ...content } = rx;
    const id = (await a.hospital.post('/v1/prescriptions', signAsDemoHospital(content))).body.prescription.id;
    await waitForPrescription(a.hospital, id, statusIs('in_review'));
    await approve(id);
    await waitForPrescription(a.hospital, id, statusIs('unfulfillable'));
    const [ended] = await sql(`select data from audit_event where prescription_id = ? and action = 'unfulfillable'`, [id]);
    expect(ended.data).toEqual({ reason: 'no pharmacy in range stocks these lines', missingLines: ['RXT-NOSTOCK'] });
    // The notices follow the status change; wait for the last of them.
    // (The patient's first notice, with their link, was at intake: docs/patient.md.)
    const told = async () => sql(`select data from audit_event where prescription_id = ? and action = 'patient_notified' and data->>'event' <> 'received' order by id`, [id]);
    for (let i = 0; i < 50 && !(await told()).length; i++) await new Promise((r) => setTimeout(r, 100));
    const acts = await actions(id);
    expect(acts.slice(acts.indexOf('unfulfillable')).filter((x) => ['unfulfillable', 'hospital_notified', 'patient_notified'].includes(x))).toEqual(['unfulfillable', 'hospital_notified', 'patient_notified']);
    const [notice] = await told();
    expect(notice.data).toMatchObject({ event: 'unfulfillable', channel: 'sms', to: '138****0001', missingLines: ['RXT-NOSTOCK'] });
    expect(await sql(`select 1 from reservation where prescription_id = ?`, [id])).toEqual([]);
  });

  it('reports the smallest split when each line is stocked somewhere but no pharmacy has them all', async () => {
    const a = actors();
    for (const [code, pharmacy] of [['RXT-SPLIT-A', 'PH010'], ['RXT-SPLIT-B', 'PH011']]) {
      await sql(`insert into drug (code, generic_name_zh, data, updated_at) select ?, generic_name_zh, jsonb_set(data, '{code}', to_jsonb(?::text)), now() from drug where code = ? on conflict do nothing`, [code, code, amlodipine]);
      await sql(`insert into stock (pharmacy_id, drug_code, on_hand, reserved, price_fen, updated_at) select id, ?, 20, 0, 1000, now() from pharmacy where code = ? on conflict do nothing`, [code, pharmacy]);
    }
    // The outbox re-indexes both pharmacies; wait until matching sees each line on its own.
    for (const code of ['RXT-SPLIT-A', 'RXT-SPLIT-B']) {
      for (let i = 0; i < 100 && (await match({ lines: [{ drugCode: code, quantity: 1 }] })).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    }
    const rx = demoPrescription();
    const { signature: _old, ...content } = rx;
    content.lines = [{ ...rx.lines[0], drugCode: 'RXT-SPLIT-A' }, { ...rx.lines[1], drugCode: 'RXT-SPLIT-B' }];
    const id = (await a.hospital.post('/v1/prescriptions', signAsDemoHospital(content))).body.prescription.id;
    await waitForPrescription(a.hospital, id, statusIs('in_review'));
    await approve(id);
    await waitForPrescription(a.hospital, id, statusIs('unfulfillable'));
    const [ended] = await sql(`select data from audit_event where prescription_id = ? and action = 'unfulfillable'`, [id]);
    expect(ended.data.reason).toBe('no single pharmacy stocks every line');
    expect([...ended.data.split].sort((x: any, y: any) => x.pharmacyCode.localeCompare(y.pharmacyCode))).toEqual([
      { pharmacyCode: 'PH010', drugCodes: ['RXT-SPLIT-A'] }, { pharmacyCode: 'PH011', drugCodes: ['RXT-SPLIT-B'] },
    ]);
  });
});
