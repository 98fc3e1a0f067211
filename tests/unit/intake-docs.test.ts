// Every rejection code the intake can answer is documented: a code added to the rules, the signature check,
// intake or the error handler without a line in docs/intake-rules.md fails here (key registry codes:
// docs/signing.md). Codes are read from the source text as well as from the exported lists, so a code
// written inline is caught too.
import fs from 'node:fs';
import path from 'node:path';
import { INTAKE_RULES, RULE_CODES } from '../../domain/rules';
import { SIGNATURE_CODES } from '../../domain/signature';

const ROOT = path.resolve(__dirname, '../..');
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');
const matches = (text: string, re: RegExp) => [...text.matchAll(re)].map((m) => m[1]);
const documented = (doc: string) => new Set(matches(read(doc), /`([A-Z][A-Z0-9_]{2,})`/g));

const ruleCodesInSource = matches(read('domain/rules.ts'), /code: '([A-Z][A-Z0-9_]+)'/g);
const apiErrorCodes = (file: string) => matches(read(file), /ApiError\(\s*\d{3},\s*'([A-Z][A-Z0-9_]+)'/g);

describe('docs/intake-rules.md lists every intake rejection code', () => {
  const doc = documented('docs/intake-rules.md');
  const missing = (codes: string[]) => [...new Set(codes)].filter((c) => !doc.has(c));

  it('prescribing rule codes', () => {
    expect(ruleCodesInSource.length).toBeGreaterThan(10);
    expect(missing(ruleCodesInSource)).toEqual([]);
    expect(missing(Object.values(RULE_CODES).flat())).toEqual([]);
    // The exported list is complete: every code in the source belongs to a named rule, and every rule has codes.
    expect([...new Set(ruleCodesInSource)].sort()).toEqual([...new Set(Object.values(RULE_CODES).flat())].sort());
    for (const name of Object.keys(INTAKE_RULES)) expect(doc.has(name) || read('docs/intake-rules.md').includes(`\`${name}\``)).toBe(true);
  });

  it('signature codes', () => {
    expect(missing([...SIGNATURE_CODES, ...matches(read('domain/signature.ts'), /'(SIGNATURE_[A-Z_]+)'/g)])).toEqual([]);
  });

  it('intake, schema and transport codes', () => {
    // api/auth.ts also serves the pharmacists' console login (its codes: docs/console.md); a hospital's push
    // authenticates by API key, which answers these two.
    expect(missing([...apiErrorCodes('api/intake.ts'), ...apiErrorCodes('api/errors.ts'), 'UNAUTHENTICATED', 'FORBIDDEN'])).toEqual([]);
  });
});

describe('docs/signing.md lists every key registry code', () => {
  it('registration and revocation codes', () => {
    const doc = documented('docs/signing.md');
    const codes = [...apiErrorCodes('api/signing-keys.ts'), ...matches(read('domain/signature.ts'), /'(SIGNING_KEY_[A-Z_]+)'/g)];
    expect(codes).toEqual(expect.arrayContaining(['SIGNING_KEY_EXISTS', 'SIGNING_KEY_DUPLICATE', 'SIGNING_KEY_PRIVATE']));
    expect([...new Set(codes)].filter((c) => !doc.has(c))).toEqual([]);
  });
});
