// Feed cursors and SSE frames (domain/event-feed.ts): pure, no services.
import { randomUUID } from 'node:crypto';
import { decodeCursor, encodeCursor, sseFrame, sseHeartbeat } from '../../domain/event-feed';
import { cloudEvent } from '../../domain/hospital-events';

describe('feed cursors', () => {
  it('round-trip a tenant and a sequence, opaque and URL-safe', () => {
    const hospitalId = randomUUID();
    for (const sequence of [0, 1, 42, 9_007_199_254_740_991]) {
      const c = encodeCursor({ hospitalId, sequence });
      expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCursor(c)).toEqual({ hospitalId, sequence });
    }
    // Stable: the same position is always the same cursor.
    expect(encodeCursor({ hospitalId, sequence: 7 })).toBe(encodeCursor({ hospitalId, sequence: 7 }));
  });

  it('refuse anything that is not a cursor we issued', () => {
    const id = randomUUID();
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    for (const bad of ['', '%%%', 'abc', b64(`v2:${id}:1`), b64(`v1:${id}:-1`), b64(`v1:${id}:01`), b64(`v1:${id}:1.5`), b64(`v1:${id}`),
      b64(`v1:${id.toUpperCase()}:1`), b64(`v1:${id}:1:extra`), b64(`v1:${id}:99999999999999999`), 'x'.repeat(201)]) {
      expect({ bad, pos: decodeCursor(bad) }).toEqual({ bad, pos: null });
    }
  });
});

describe('SSE frames', () => {
  it('one message per event: id is the cursor, data one line of JSON even when the data has newlines', () => {
    const e = cloudEvent({ id: 'e1', hospitalCode: 'H', type: 'rejected', subject: 's', time: new Date(0), sequence: 3, data: { comment: 'line 1\nline 2' } });
    const frame = sseFrame(e, 'CUR');
    expect(frame).toBe(`id: CUR\ndata: ${JSON.stringify(e)}\n\n`);
    expect(frame.split('\n')).toHaveLength(4);
    expect(JSON.parse(frame.split('\n')[1].slice(6))).toEqual(e);
    expect(sseHeartbeat()).toMatch(/^:.*\n\n$/);
  });
});
