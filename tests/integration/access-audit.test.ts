// Reads by a person are audit events (docs/audit.md "Access by a person"): a pharmacist opening a
// prescription in review, an operator reading it over the JSON API or FHIR, each leave a chained
// `record_accessed` event with who, from where and through which route; a hospital reading its own
// prescription does not; a refused read (404) records nothing; a repeat within the window records once.
import { DEMO } from '../../demo/fixtures';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { actors, apiUrl, closeDb, sql } from './helpers';

afterAll(closeDb);

const accesses = (id: string) => sql(`select actor, actor_ip, data from audit_event where prescription_id = ? and action = 'record_accessed' order by rx_seq`, [id]);

it('records who read a prescription, through which route, once per window; systems and refused reads are not recorded', async () => {
  const a = actors();
  const id = (await a.hospital.post('/v1/prescriptions', demoPrescription())).body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  expect(await accesses(id)).toEqual([]); // the hospital's own polling is not a person's access

  expect((await a.pharmacist.get(`/v1/review-queue/${id}`)).status).toBe(200);
  expect((await a.pharmacist.get(`/v1/review-queue/${id}`)).status).toBe(200); // within the window: once
  expect((await a.operator.get(`/v1/prescriptions/${id}`)).status).toBe(200);
  const fhir = await fetch(`${apiUrl()}/fhir/R4/Task/${id}`, { headers: { authorization: `Bearer ${DEMO.operatorKey}`, 'user-agent': 'audit-test/1' } });
  expect(fhir.status).toBe(200);
  expect((await a.otherHospital.get(`/v1/prescriptions/${id}`)).status).toBe(404);

  const rows = await accesses(id);
  expect(rows.map((r) => [r.actor, r.data.action, r.data.route])).toEqual([
    [`pharmacist:${DEMO.pharmacists[0].code}`, 'review.open', 'GET /v1/review-queue/:id'],
    ['operator:operator', 'prescription.read', 'GET /v1/prescriptions/:id'],
    ['operator:operator', 'prescription.read', 'GET /fhir/R4/Task/:id'],
  ]);
  expect(rows.every((r) => typeof r.actor_ip === 'string' && r.actor_ip.length > 0)).toBe(true);
  // They are links of the chains like every other event.
  const [{ n }] = await sql(`select count(*)::int as n from audit_event where prescription_id = ? and action = 'record_accessed' and (hash is null or rx_hash is null)`, [id]);
  expect(n).toBe(0);
});
