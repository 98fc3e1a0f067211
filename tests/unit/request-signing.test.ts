// Request signing (sdk/request-signing.ts, docs/signing.md "Request signing"): the worked example, what the
// check refuses, the SDK's fetch helper and CLI, and the rotation rules of hospital secrets
// (engine/signing-secrets.ts). The partners' names for the same scheme are covered in delivery.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkSignature, computeSignature, REQUEST_ID_HEADER, SIGNATURE_HEADER, signedFetch, signRequest } from '../../sdk/request-signing';
import { computePartnerSignature, signPartnerRequest } from '../../sdk/partner';
import { run } from '../../sdk/cli';
import {
  activeSigningSecrets, HOSPITAL_SECRETS, loadHospitalSigningConfig, openSigningSecret, PARTNER_SECRETS, rotateSigningSecrets, secretsView,
} from '../../engine/signing-secrets';

const example = {
  secret: 'hsk_example_secret', timestamp: 1795000000, requestId: 'req-0001-example', method: 'POST',
  path: '/v1/prescriptions/3f1c9a52-7b7e-4c4b-8f0a-2d6e5b9c1a07/cancel', body: '{"reason":"患者要求取消 / patient asked to cancel"}',
};
const doc = () => fs.readFileSync(path.resolve(__dirname, '../../docs/signing.md'), 'utf8');

describe('the scheme', () => {
  it('reproduces the worked example of docs/signing.md', () => {
    const h = signRequest(example.secret, example);
    expect(h).toEqual({ [REQUEST_ID_HEADER]: example.requestId, [SIGNATURE_HEADER]: 't=1795000000,v1=54a0632d5d0cc8f15ba112ec244a553d7b40993bdc3abd1630f90a5fb0182d83' });
    expect(doc()).toContain(`X-Rxflow-Signature: t=${example.timestamp},v1=${computeSignature(example.secret, example.timestamp, example.requestId, example.method, example.path, example.body)}`);
    expect(doc()).toContain(example.body);
    expect(doc()).toContain(example.path);
  });

  it('is the partners\' scheme: same signing string, only the id header is named differently', () => {
    const args = [example.secret, example.timestamp, example.requestId, example.method, example.path, example.body] as const;
    expect(computePartnerSignature(...args)).toBe(computeSignature(...args));
    const partner = signPartnerRequest(example.secret, { ...example, updateId: example.requestId });
    expect(partner).toEqual({ 'x-rxflow-update-id': example.requestId, [SIGNATURE_HEADER]: signRequest(example.secret, example)[SIGNATURE_HEADER] });
  });

  it('verifies what it signs and refuses another secret, body, path, query, method, id or a stale timestamp', () => {
    const now = example.timestamp * 1000;
    const header = signRequest(example.secret, example)[SIGNATURE_HEADER];
    const check = (o: Partial<typeof example> & { secrets?: string[]; at?: number; tolerance?: number }) => checkSignature(o.secrets ?? [example.secret], {
      header, requestId: o.requestId ?? example.requestId, method: o.method ?? example.method, path: o.path ?? example.path, body: o.body ?? example.body,
      now: o.at ?? now, toleranceSeconds: o.tolerance,
    }).problem;
    expect(check({})).toBeNull();
    expect(check({ secrets: ['hsk_old', example.secret] })).toBeNull();
    expect(check({ secrets: ['hsk_other'] })).toBe('BAD_SIGNATURE');
    expect(check({ secrets: [] })).toBe('BAD_SIGNATURE');
    expect(check({ body: '{"reason":"x"}' })).toBe('BAD_SIGNATURE');
    expect(check({ path: `${example.path}?x=1` })).toBe('BAD_SIGNATURE');
    expect(check({ method: 'PUT' })).toBe('BAD_SIGNATURE');
    expect(check({ requestId: 'req-0002-example' })).toBe('BAD_SIGNATURE');
    expect(check({ at: now + 300_000 })).toBeNull();
    expect(check({ at: now + 301_000 })).toBe('STALE_REQUEST');
    expect(check({ at: now - 301_000 })).toBe('STALE_REQUEST');
    expect(check({ at: now + 61_000, tolerance: 60 })).toBe('STALE_REQUEST');
    // A body given as bytes signs the same as its UTF-8 string; a GET signs the empty body.
    expect(signRequest(example.secret, { ...example, body: Buffer.from(example.body, 'utf8') })).toEqual(signRequest(example.secret, example));
    expect(checkSignature([example.secret], { header: undefined, requestId: example.requestId, method: 'GET', path: '/', body: '' }).problem).toBe('SIGNATURE_MISSING');
    expect(checkSignature([example.secret], { header: 'v1=abc', requestId: example.requestId, method: 'GET', path: '/', body: '' }).problem).toBe('BAD_SIGNATURE');
    expect(() => signRequest('s', { method: 'GET', path: '/', body: '', requestId: 'short' })).toThrow(/8–100/);
  });
});

describe('the SDK', () => {
  it('signedFetch signs each call with a fresh id: the body it sends is the body it signed', async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const fake = (async (url: string, init: RequestInit) => { seen.push({ url, init }); return new Response('{}'); }) as unknown as typeof fetch;
    const call = signedFetch({ baseUrl: 'https://rxflow.example.cn/', apiKey: 'rxk_x', secret: example.secret, fetch: fake });
    await call('/v1/prescriptions', { body: { rxNo: 'RX-1', note: '复诊' } });
    await call('/v1/events?after=0');
    const [push, read] = seen;
    expect(push.url).toBe('https://rxflow.example.cn/v1/prescriptions');
    expect(push.init.method).toBe('POST');
    const h = push.init.headers as Record<string, string>;
    expect(h.authorization).toBe('Bearer rxk_x');
    expect(checkSignature([example.secret], { header: h[SIGNATURE_HEADER], requestId: h[REQUEST_ID_HEADER], method: 'POST', path: '/v1/prescriptions', body: push.init.body as string }).problem).toBeNull();
    const r = read.init.headers as Record<string, string>;
    expect(read.init.method).toBe('GET');
    expect(read.init.body).toBeUndefined();
    expect(checkSignature([example.secret], { header: r[SIGNATURE_HEADER], requestId: r[REQUEST_ID_HEADER], method: 'GET', path: '/v1/events?after=0', body: '' }).problem).toBeNull();
    expect(r[REQUEST_ID_HEADER]).not.toBe(h[REQUEST_ID_HEADER]);
  });

  it('the CLI prints the worked example\'s headers', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rx-sign-request-'));
    fs.writeFileSync(path.join(dir, 'secret.txt'), `${example.secret}\n`);
    fs.writeFileSync(path.join(dir, 'body.json'), example.body);
    const lines: string[] = [];
    const code = run(['sign-request', '--secret-file', path.join(dir, 'secret.txt'), '--method', 'POST', '--path', example.path,
      '--request-id', example.requestId, '--t', String(example.timestamp), path.join(dir, 'body.json')], (s) => lines.push(s));
    expect(code).toBe(0);
    expect(lines).toEqual([`X-Rxflow-Request-Id: ${example.requestId}`, 'X-Rxflow-Signature: t=1795000000,v1=54a0632d5d0cc8f15ba112ec244a553d7b40993bdc3abd1630f90a5fb0182d83']);
    for (const l of lines) expect(doc()).toContain(l);
    expect(() => run(['sign-request', '--secret-file', path.join(dir, 'secret.txt'), '--method', 'GET', '--path', 'v1/x'], () => undefined)).toThrow(/starting with \//);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('hospital secrets and modes', () => {
  const t0 = Date.parse('2026-11-26T00:00:00Z');

  it('rotates with an overlap, never more than two active, sealed for hospitals only', () => {
    const one = rotateSigningSecrets(HOSPITAL_SECRETS, [], 'hsk_first', 60_000, t0);
    expect(one).toHaveLength(1);
    expect(one[0].id).toMatch(/^hsec_[0-9a-f]{12}$/);
    expect(one[0].sealed).toMatch(/^enc:/);
    expect(one[0].sealed).not.toContain('hsk_first');
    expect(openSigningSecret(HOSPITAL_SECRETS, one[0].sealed)).toBe('hsk_first');
    // The kind is the cipher's associated data: a hospital's sealed secret does not open as a partner's.
    expect(() => openSigningSecret(PARTNER_SECRETS, one[0].sealed)).toThrow();
    const two = rotateSigningSecrets(HOSPITAL_SECRETS, one, 'hsk_second', 60_000, t0 + 1000);
    const open = (list: typeof one, at: number) => activeSigningSecrets(list, at).map((s) => openSigningSecret(HOSPITAL_SECRETS, s.sealed));
    expect(open(two, t0 + 2000)).toEqual(['hsk_second', 'hsk_first']);
    expect(open(two, t0 + 1000 + 60_001)).toEqual(['hsk_second']);
    const three = rotateSigningSecrets(HOSPITAL_SECRETS, two, 'hsk_third', 60_000, t0 + 3000);
    expect(three.map((s) => openSigningSecret(HOSPITAL_SECRETS, s.sealed))).toEqual(['hsk_third', 'hsk_second']);
    // A second rotation within the overlap does not extend the first secret's life beyond its own end.
    const quick = rotateSigningSecrets(HOSPITAL_SECRETS, two, 'hsk_q', 600_000, t0 + 2000);
    expect(quick[1].expiresAt).toBe(new Date(t0 + 2000 + 600_000).toISOString());
    const shorter = rotateSigningSecrets(HOSPITAL_SECRETS, [{ ...two[0], expiresAt: new Date(t0 + 5000).toISOString() }], 'hsk_s', 600_000, t0 + 2000);
    expect(shorter[1].expiresAt).toBe(new Date(t0 + 5000).toISOString());
    // Overlap 0: the previous secret is gone at once (a leaked one).
    expect(open(rotateSigningSecrets(HOSPITAL_SECRETS, two, 'hsk_now', 0, t0 + 2000), t0 + 2000)).toEqual(['hsk_now']);
    // What anyone is shown: ids and dates, never the sealed value.
    expect(JSON.stringify(secretsView(two, t0 + 2000))).not.toContain('enc:');
    expect(secretsView(two, t0 + 2000).map((s) => s.id)).toEqual([two[0].id, two[1].id]);
  });

  it('reads the default mode from RX_HOSPITAL_REQUEST_SIGNING (optional unless set) and refuses a wrong one', () => {
    const saved = process.env.RX_HOSPITAL_REQUEST_SIGNING;
    try {
      delete process.env.RX_HOSPITAL_REQUEST_SIGNING;
      expect(loadHospitalSigningConfig()).toMatchObject({ defaultMode: 'optional', toleranceSeconds: 300, rotationOverlapMs: 86_400_000 });
      process.env.RX_HOSPITAL_REQUEST_SIGNING = 'required';
      expect(loadHospitalSigningConfig().defaultMode).toBe('required');
      process.env.RX_HOSPITAL_REQUEST_SIGNING = 'sometimes';
      expect(() => loadHospitalSigningConfig()).toThrow(/off, optional, required/);
    } finally {
      if (saved === undefined) delete process.env.RX_HOSPITAL_REQUEST_SIGNING; else process.env.RX_HOSPITAL_REQUEST_SIGNING = saved;
    }
  });
});
