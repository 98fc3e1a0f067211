// `node --import tsx sdk/cli.ts keygen|sign|verify|canonical|vectors|sign-request …` — the signing helper for hospital
// integrators (docs/signing.md). Exit codes: 0 done (verify: valid), 1 verification failed or the run failed,
// 2 bad arguments.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { digests, generateKeyPair, signPrescription, signRequest, sm2Digest, verifyPrescription, SIGNATURE_ALGS, type SignatureAlg } from './sign';
import { buildTestVectors } from './vectors';

export const USAGE = `usage:
  node --import tsx sdk/cli.ts keygen --alg ES256|SM2-SM3 --out <prefix>
        writes <prefix>.pem (private, mode 600) and <prefix>.pub.pem; prints the registration body
  node --import tsx sdk/cli.ts sign --alg ES256|SM2-SM3 --key <private.pem> --key-id <id> [--signer-id <id>] [--encoding der|raw] [--out <file>] <prescription.json>
        prints the prescription with its signature member (or writes it to --out)
  node --import tsx sdk/cli.ts verify --pub <public.pem> [--signer-id <id>] <signed.json>
        prints "valid" (exit 0) or why not (exit 1)
  node --import tsx sdk/cli.ts canonical [--pub <public.pem>] [--signer-id <id>] <prescription.json>
        prints the canonical form, its SHA-256 and SM3 digests (and with --pub, SM2's Z_A and e)
  node --import tsx sdk/cli.ts vectors
        prints the test vectors (sdk/test-vectors.json is this output)
  node --import tsx sdk/cli.ts sign-request --secret-file <file> --method GET|POST|… --path </v1/…?query> [--request-id <id>] [--t <unix seconds>] [<body file>]
        prints the X-Rxflow-Request-Id and X-Rxflow-Signature headers for that request (send the body file's exact bytes)`;

class UsageError extends Error {}

const readJson = (file: string | undefined): Record<string, unknown> => {
  if (!file) throw new UsageError('name the JSON file');
  const v = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError(`${file} must hold a JSON object`);
  return v;
};
const alg = (v: string | undefined): SignatureAlg => {
  if (!SIGNATURE_ALGS.includes(v as SignatureAlg)) throw new UsageError(`--alg must be ${SIGNATURE_ALGS.join(' or ')}`);
  return v as SignatureAlg;
};
const need = (name: string, v: string | undefined) => {
  if (!v) throw new UsageError(`--${name} is required`);
  return v;
};

export function run(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n')): number {
  const [cmd, ...rest] = argv;
  const { values: o, positionals } = parseArgs({
    args: rest, allowPositionals: true,
    options: {
      alg: { type: 'string' }, out: { type: 'string' }, key: { type: 'string' }, 'key-id': { type: 'string' }, pub: { type: 'string' },
      'signer-id': { type: 'string' }, encoding: { type: 'string' },
      'secret-file': { type: 'string' }, method: { type: 'string' }, path: { type: 'string' }, 'request-id': { type: 'string' }, t: { type: 'string' },
    },
  });
  switch (cmd) {
    case 'keygen': {
      const a = alg(o.alg);
      const prefix = need('out', o.out);
      const pair = generateKeyPair(a);
      fs.writeFileSync(`${prefix}.pem`, pair.privateKeyPem, { mode: 0o600 });
      fs.writeFileSync(`${prefix}.pub.pem`, pair.publicKeyPem);
      out(`wrote ${prefix}.pem (private: keep it with the signer) and ${prefix}.pub.pem`);
      out('register the public key: POST /v1/hospital/signing-keys');
      out(JSON.stringify({ keyId: '<your key id>', alg: a, publicKeyPem: pair.publicKeyPem, validFrom: new Date().toISOString(), validTo: '<end of validity, ISO 8601>' }, null, 2));
      return 0;
    }
    case 'sign': {
      if (o.encoding && o.encoding !== 'der' && o.encoding !== 'raw') throw new UsageError('--encoding must be der or raw');
      const signed = signPrescription(readJson(positionals[0]), {
        alg: alg(o.alg), keyId: need('key-id', o['key-id']), privateKeyPem: fs.readFileSync(need('key', o.key), 'utf8'),
        signerId: o['signer-id'], encoding: o.encoding as 'der' | 'raw' | undefined,
      });
      const text = JSON.stringify(signed, null, 2);
      if (o.out) { fs.writeFileSync(o.out, text + '\n'); out(`wrote ${o.out}`); } else out(text);
      return 0;
    }
    case 'verify': {
      const r = verifyPrescription(readJson(positionals[0]), fs.readFileSync(need('pub', o.pub), 'utf8'), { signerId: o['signer-id'] });
      out(r.ok ? 'valid' : `invalid: ${r.reason}`);
      return r.ok ? 0 : 1;
    }
    case 'canonical': {
      const rx = readJson(positionals[0]);
      const d = digests(rx);
      out(d.canonical);
      out(`sha256 ${d.sha256}`);
      out(`sm3    ${d.sm3}`);
      if (o.pub) {
        const z = sm2Digest(rx, fs.readFileSync(o.pub, 'utf8'), o['signer-id']);
        out(`sm2 za ${z.za}`);
        out(`sm2 e  ${z.e}`);
      }
      return 0;
    }
    case 'vectors':
      out(JSON.stringify(buildTestVectors(), null, 2));
      return 0;
    case 'sign-request': {
      const secret = fs.readFileSync(need('secret-file', o['secret-file']), 'utf8').trim();
      const path = need('path', o.path);
      if (!path.startsWith('/')) throw new UsageError('--path is the path with its query, starting with /');
      if (o.t !== undefined && !/^\d{1,12}$/.test(o.t)) throw new UsageError('--t is unix seconds');
      const body = positionals[0] ? fs.readFileSync(positionals[0]) : '';
      let headers: Record<string, string>;
      try {
        headers = signRequest(secret, { method: need('method', o.method), path, body, requestId: o['request-id'], timestamp: o.t === undefined ? undefined : Number(o.t) });
      } catch (e) { throw new UsageError((e as Error).message); }
      for (const [k, v] of Object.entries(headers)) out(`${k.replace(/(^|-)([a-z])/g, (m) => m.toUpperCase())}: ${v}`);
      return 0;
    }
    default:
      throw new UsageError(cmd ? `unknown command ${cmd}` : 'name a command');
  }
}

if (require.main === module) {
  try {
    process.exitCode = run(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`${(e as Error).message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else {
      console.error((e as Error).message);
      process.exitCode = 1;
    }
  }
}
