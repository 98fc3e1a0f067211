// The edge's refusal of text PostgreSQL cannot store (api/text-guard.ts), found as 500s by the fuzzer.
import { MAX_BODY_DEPTH, unstorableText } from '../../api/text-guard';

describe('unstorableText', () => {
  it('passes ordinary text, CJK, emoji and combined characters', () => {
    expect(unstorableText({ name: '张建国', note: '👨‍👩‍👧‍👦 Z̤͔ͧ̑̓ä', lines: [{ q: 1, s: '<script>alert(1)</script>' }] })).toBeNull();
  });

  it('finds a NUL character with its JSON path, in values and in field names, first in document order', () => {
    expect(unstorableText({ a: 'ok', items: [{ drugCode: 'RX\u00000001' }], z: '\u0000' })).toMatchObject({ path: '$.items[0].drugCode', code: 'NUL_CHARACTER' });
    expect(unstorableText({ ['bad\u0000key']: 1 })).toMatchObject({ path: '$.bad\u0000key', code: 'NUL_CHARACTER' });
  });

  it('finds lone surrogates but accepts surrogate pairs', () => {
    expect(unstorableText({ s: '\ud83d\ude00' })).toBeNull();
    expect(unstorableText({ s: 'a\ud800' })).toMatchObject({ path: '$.s', code: 'ILL_FORMED_UNICODE' });
    expect(unstorableText(['\udfff'])).toMatchObject({ path: '$[0]', code: 'ILL_FORMED_UNICODE' });
  });

  it('bounds nesting without recursion: 100,000 levels are refused, not a stack overflow', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(unstorableText(deep)).toMatchObject({ code: 'TOO_DEEP' });
    let ok: unknown = 'x';
    for (let i = 0; i < MAX_BODY_DEPTH - 1; i++) ok = { a: ok };
    expect(unstorableText(ok)).toBeNull();
  });
});
