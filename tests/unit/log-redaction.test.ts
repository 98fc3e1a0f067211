// The log's safety net: should a patient's details ever reach a log call, they are censored.
import { Writable } from 'node:stream';
import pino from 'pino';
import { REDACT_PATHS, prescriptionOf } from '../../engine/log';

function capture() {
  const out: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { out.push(String(chunk)); cb(); } });
  return { logger: pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream), out };
}

it('censors patient details at the top level and one level down', () => {
  const { logger, out } = capture();
  logger.info({ patient: { name: '张建国', idNumber: '330106195803140011' }, rx: { phone: '13857100001', address: { text: '文三路 90 号' }, diagnoses: ['I10'] }, prescriptionId: 'p1' }, 'oops');
  const line = out.join('');
  for (const secret of ['张建国', '330106195803140011', '13857100001', '文三路', 'I10']) expect(line).not.toContain(secret);
  expect(JSON.parse(line)).toMatchObject({ patient: '[redacted]', rx: { phone: '[redacted]', address: '[redacted]', diagnoses: '[redacted]' }, prescriptionId: 'p1' });
});

it('keys lines to a prescription only for prescription workflows', () => {
  expect(prescriptionOf('rx-0b9c1f5e-0000-4000-8000-000000000001')).toBe('0b9c1f5e-0000-4000-8000-000000000001');
  expect(prescriptionOf('rxflow-reservation-sweeper-q')).toBeUndefined();
  expect(prescriptionOf(undefined)).toBeUndefined();
});
