// API keys with a lifecycle (docs/security.md "API keys"), against the real engine: a hospital issues a
// scoped key, rotates a key while traffic keeps flowing on the old one (no request refused during the
// overlap), the old key stops when the overlap ends, a revoked key is refused by name; another party's
// keys are out of reach; every change is audited without the secret.
import { ApiClient } from '../../demo/actors';
import { DEMO } from '../../demo/fixtures';
import { demoPrescription } from '../../demo/prescriptions';
import { apiUrl, closeDb, sql } from './helpers';

afterAll(closeDb);

const client = (key: string) => new ApiClient(apiUrl(), key);
const operator = () => client(DEMO.operatorKey);

/** A fresh hospital key issued by the operator, so the demo key the other tests use is never rotated. */
async function freshHospitalKey(label: string, extra: Record<string, unknown> = {}) {
  const r = await operator().post('/v1/ops/keys', { role: 'hospital', party: DEMO.hospital.code, label, ...extra });
  expect(r.status).toBe(201);
  expect(r.body.secret).toMatch(/^rxk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
  expect(r.body.secret.startsWith(r.body.key.prefix)).toBe(true);
  return { id: r.body.key.id as string, secret: r.body.secret as string };
}

describe('API keys', () => {
  it('rotates without downtime: both keys work during the overlap, the old one stops after it', async () => {
    const k1 = await freshHospitalKey('HIS interface (rotation test)');
    const his = client(k1.secret);
    // Traffic on the old key all through the rotation: not one request refused.
    let stop = false;
    const statuses: number[] = [];
    const traffic = (async () => { while (!stop) statuses.push((await his.get('/v1/drugs?q=BLF')).status); })();
    const rotated = await his.post(`/v1/keys/${k1.id}/rotate`, { overlapHours: 1 });
    expect(rotated.status).toBe(201);
    const k2 = rotated.body.secret as string;
    expect(rotated.body.key).toMatchObject({ status: 'active', label: 'HIS interface (rotation test)', rotatedFrom: k1.id });
    expect(rotated.body.previous).toMatchObject({ id: k1.id, status: 'expiring' });
    const overlapEnds = Date.parse(rotated.body.previous.expiresAt);
    expect(overlapEnds - Date.now()).toBeGreaterThan(59 * 60_000);
    expect((await client(k2).get('/v1/drugs?q=BLF')).status).toBe(200);
    // A push with the new key is the hospital's like any other.
    const push = await client(k2).post('/v1/prescriptions', demoPrescription());
    expect(push.status).toBe(201);
    stop = true;
    await traffic;
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);

    // The new key lists both, marking itself current; no hash or secret in the list.
    const list = await client(k2).get('/v1/keys');
    const mine = list.body.items.filter((k: any) => [k1.id, rotated.body.key.id].includes(k.id));
    expect(mine.map((k: any) => [k.status, k.current])).toEqual([['expiring', false], ['active', true]]);
    expect(JSON.stringify(list.body)).not.toMatch(/keyHash|key_hash|rxk_[0-9a-f]{8}_/);

    // Rotating again with no overlap: the previous key stops at once, and says why.
    const again = await client(k2).post(`/v1/keys/${rotated.body.key.id}/rotate`, { overlapHours: 0 });
    expect(again.status).toBe(201);
    const stopped = await client(k2).get('/v1/drugs?q=BLF');
    expect(stopped.status).toBe(401);
    expect(stopped.body.error.code).toBe('KEY_EXPIRED');
    expect((await client(again.body.secret).get('/v1/drugs?q=BLF')).status).toBe(200);
    expect((await client(again.body.secret).post(`/v1/keys/${k1.id}/rotate`, { overlapHours: 1 })).status).toBe(201); // k1 is still in its overlap

    // Every step is in the audit trail, none with a secret.
    const ids = [k1.id, rotated.body.key.id];
    const events = await sql(`select action, actor, data from audit_event where action like 'api_key_%' and (data->>'keyId' in (?, ?) or data->>'rotatedFrom' in (?, ?)) order by global_seq`, [...ids, ...ids]);
    expect(events.map((e) => e.action)).toEqual(['api_key_issued', 'api_key_rotated', 'api_key_rotated', 'api_key_rotated']);
    expect(events[0].actor).toBe('operator:operator');
    expect(JSON.stringify(events)).not.toContain(k1.secret.slice(13));
  });

  it('a revoked key is refused by name; revoking twice changes nothing', async () => {
    const k = await freshHospitalKey('to be revoked');
    const self = client(k.secret);
    expect((await self.post(`/v1/keys/${k.id}/revoke`, {})).status).toBe(400);
    const revoked = await self.post(`/v1/keys/${k.id}/revoke`, { reason: 'leaked in a log' });
    expect(revoked.status).toBe(200);
    expect(revoked.body.key).toMatchObject({ status: 'revoked', revokedReason: 'leaked in a log' });
    const refused = await self.get('/v1/drugs?q=BLF');
    expect([refused.status, refused.body.error.code]).toEqual([401, 'KEY_REVOKED']);
    const twice = await operator().post(`/v1/keys/${k.id}/revoke`, { reason: 'again' });
    expect(twice.body.key.revokedAt).toBe(revoked.body.key.revokedAt);
    expect((await operator().post(`/v1/keys/${k.id}/rotate`, { overlapHours: 1 })).body.error.code).toBe('KEY_NOT_ACTIVE');
  });

  it('a scoped key takes only its actions, and cannot issue a broader key', async () => {
    const hospital = client(DEMO.hospital.key);
    const issued = await hospital.post('/v1/keys', { label: 'event reader', scopes: ['events.read', 'api_key.manage'] });
    expect(issued.status).toBe(201);
    expect(issued.body.key.scopes).toEqual(['api_key.manage', 'events.read']);
    const reader = client(issued.body.secret);
    expect((await reader.get('/v1/events?limit=1')).status).toBe(200);
    const push = await reader.post('/v1/prescriptions', demoPrescription());
    expect([push.status, push.body.error.code]).toEqual([403, 'SCOPE_MISSING']);
    expect(push.body.error.message).toMatch(/prescription\.push/);

    // Broader than itself: refused per scope; with no scopes named, the new key inherits the issuer's.
    const broader = await reader.post('/v1/keys', { label: 'x', scopes: ['events.read', 'prescription.push'] });
    expect(broader.status).toBe(422);
    expect(broader.body.error).toMatchObject({ code: 'SCOPE_NOT_PERMITTED', details: [{ path: '$.scopes[1]', code: 'beyond_issuer_scopes' }] });
    const inherited = await reader.post('/v1/keys', { label: 'inherits' });
    expect(inherited.body.key.scopes).toEqual(['api_key.manage', 'events.read']);
    // Not an action of the role at all.
    const foreign = await hospital.post('/v1/keys', { label: 'x', scopes: ['order.fulfil'] });
    expect(foreign.body.error.details).toEqual([expect.objectContaining({ path: '$.scopes[0]', code: 'not_an_action_of_the_role' })]);
    // Expiring keys say when.
    const shortLived = await hospital.post('/v1/keys', { label: 'a week', expiresInDays: 7 });
    expect(Date.parse(shortLived.body.key.expiresAt) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
  });

  it('another party\'s keys are out of reach (404), the operator reaches any', async () => {
    const k = await freshHospitalKey('other party test');
    const other = client(DEMO.otherHospital.key);
    const pharmacy = client(DEMO.pharmacyKey('PH001'));
    for (const c of [other, pharmacy]) {
      expect((await c.post(`/v1/keys/${k.id}/revoke`, { reason: 'x' })).status).toBe(404);
      expect((await c.get('/v1/keys')).body.items.map((x: any) => x.id)).not.toContain(k.id);
    }
    expect((await client(k.secret).get('/v1/drugs?q=BLF')).status).toBe(200);
    const listed = await operator().get(`/v1/ops/keys?role=hospital&party=${DEMO.hospital.code}`);
    expect(listed.body.items.map((x: any) => x.id)).toContain(k.id);
    const unknown = await operator().post('/v1/ops/keys', { role: 'pharmacy', party: 'NO-SUCH', label: 'x' });
    expect([unknown.status, unknown.body.error.code]).toEqual([422, 'PARTY_UNKNOWN']);
  });
});
