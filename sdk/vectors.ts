// Builds sdk/test-vectors.json (`node --import tsx sdk/cli.ts vectors`): fixed keys, a prescription, its
// canonical form and digests, and signatures that verify. The keys are published test keys — never register them.
// - ES256 key: the P-256 key of RFC 6979 A.2.5. Node's ECDSA uses a random nonce, so the stored ES256 signature is
//   one valid signature among many; tests verify it rather than reproduce it.
// - SM2 key and nonce: those of the GM/T 0003.5-2012 (GB/T 32918.5-2017) Annex A example, so the SM2 signature
//   over the prescription is reproducible byte for byte, and the standard's own example is included to check
//   the SM2 primitive (Z_A with the default signer ID, e, r, s).
import { createECDH, createPrivateKey, createPublicKey } from 'node:crypto';
import { sm2 } from 'sm-crypto-v2';
import { canonicalContent } from '../domain/canonical';
import { SM2_DEFAULT_SIGNER_ID } from '../domain/signature';
import { digests, signPrescription, sm2Digest } from './sign';

const ES256_D = 'c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721';
const SM2_D = '3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8';
const SM2_K = '59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21';

export const SM2_STANDARD_EXAMPLE = {
  source: 'GM/T 0003.5-2012 = GB/T 32918.5-2017, Annex A (signature on the recommended curve)',
  message: 'message digest',
  signerId: SM2_DEFAULT_SIGNER_ID,
  privateKey: SM2_D,
  publicKey: '0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13',
  za: 'b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3',
  e: 'f0b43e94ba45accaace692ed534382eb17e6ab5a19ce7b31f4486fdfc0d28640',
  k: SM2_K,
  r: 'f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3',
  s: 'b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa',
};

/** A prescription as a hospital HIS would push it; one line names its drug by generic name + spec. */
export const VECTOR_PRESCRIPTION = {
  rxNo: 'VECTOR-0001',
  issuedAt: '2026-11-23T09:30:00+08:00',
  validDays: 1,
  visit: { type: 'follow_up', priorDiagnosisRef: 'OPD-2025-118204', department: '心血管内科' },
  doctor: { code: 'D001', name: '王医生（演示）' },
  patient: {
    ref: 'PAT-0001', name: '张建国', gender: 'M', birthDate: '1958-03-14', phone: '13857100001',
    address: { text: '杭州市西湖区文三路 90 号', lat: 30.2788, lng: 120.1325 },
    allergies: ['青霉素'], pregnant: false,
  },
  diagnoses: [{ code: 'I10', name: '原发性高血压' }, { code: 'E11.9', name: '2型糖尿病' }],
  lines: [
    { drugCode: 'RX0001', quantity: 2, dosage: '5mg', doseMg: 5, frequency: 'qd', timesPerDay: 1, route: '口服', days: 14 },
    { genericName: '盐酸二甲双胍缓释片', spec: '0.5g×30片', quantity: 1, dosage: '0.5g', frequency: 'bid', timesPerDay: 2, route: '口服', days: 14 },
  ],
  chronic: true,
  longTermReason: '高血压、糖尿病病情稳定，长期用药',
};

const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

function es256Keys(): { privateKeyPem: string; publicKeyPem: string } {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(ES256_D, 'hex'));
  const pub = ecdh.getPublicKey();
  const jwk = { kty: 'EC', crv: 'P-256', d: Buffer.from(ES256_D, 'hex').toString('base64url'), x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') };
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  return { privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string, publicKeyPem: createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string };
}

function sm2Keys(): { privateKeyPem: string; publicKeyPem: string } {
  // SEC1 ECPrivateKey and SubjectPublicKeyInfo on the SM2 curve (OID 1.2.156.10197.1.301), assembled around d and its point.
  const point = sm2.getPublicKeyFromPrivateKey(SM2_D);
  const sec1 = Buffer.from(`30770201010420${SM2_D}a00a06082a811ccf5501822da144034200${point}`, 'hex');
  const spki = Buffer.from(`3059301306072a8648ce3d020106082a811ccf5501822d034200${point}`, 'hex');
  return {
    privateKeyPem: createPrivateKey({ key: sec1, format: 'der', type: 'sec1' }).export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKeyPem: createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }) as string,
  };
}

/** ES256 signatures are random: pass the stored one to keep the file stable when it still verifies. */
export function buildTestVectors(es256Signature?: string) {
  const es = es256Keys();
  const sm = sm2Keys();
  const d = digests(VECTOR_PRESCRIPTION);
  const esSigned = signPrescription(VECTOR_PRESCRIPTION, { alg: 'ES256', keyId: 'vector-es256', privateKeyPem: es.privateKeyPem });
  if (es256Signature) esSigned.signature.value = es256Signature;

  // SM2 with the standard's fixed nonce k: (k, x1 of kG) from the library, so the signature is reproducible.
  const x1 = BigInt('0x' + sm2.getPublicKeyFromPrivateKey(SM2_K).slice(2, 66));
  const m = Buffer.from(canonicalContent(VECTOR_PRESCRIPTION), 'utf8');
  const rs = sm2.doSignature(m, SM2_D, { hash: true, der: false, userId: SM2_DEFAULT_SIGNER_ID, pointPool: [{ k: BigInt('0x' + SM2_K), x1 }] });
  const derHex = sm2.doSignature(m, SM2_D, { hash: true, der: true, userId: SM2_DEFAULT_SIGNER_ID, pointPool: [{ k: BigInt('0x' + SM2_K), x1 }] });
  const za = sm2Digest(VECTOR_PRESCRIPTION, sm.publicKeyPem);

  return {
    description: 'rxflow prescription signing test vectors (docs/signing.md). Published test keys: never register them.',
    canonicalization: 'JSON without the signature member; object keys sorted by UTF-16 code unit at every level; no whitespace; UTF-8',
    prescription: VECTOR_PRESCRIPTION,
    canonical: d.canonical,
    sha256: d.sha256,
    sm3: d.sm3,
    keys: {
      ES256: { keyId: 'vector-es256', source: 'RFC 6979 A.2.5 (P-256)', ...es },
      'SM2-SM3': { keyId: 'vector-sm2', source: 'GM/T 0003.5-2012 Annex A', signerId: SM2_DEFAULT_SIGNER_ID, ...sm },
    },
    es256: { signed: esSigned, note: 'one valid signature (ECDSA nonces are random): verify it, do not expect to reproduce it' },
    sm2: {
      za: za.za, e: za.e, k: SM2_K,
      signatureRaw: b64(rs), signatureDer: b64(derHex),
      signed: { ...VECTOR_PRESCRIPTION, signature: { alg: 'SM2-SM3', keyId: 'vector-sm2', value: b64(derHex) } },
    },
    sm2StandardExample: SM2_STANDARD_EXAMPLE,
  };
}
