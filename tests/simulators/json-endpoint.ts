// The HTTP side of the outside parties' simulators (the insurer, the delivery partners): one POST path,
// the body collected, the handler's answer sent as JSON, and a delay that close() cuts short, so that no
// slow answer outlives its test.
import http from 'node:http';

export type Answer = [status: number, body: unknown];

export interface JsonEndpoint {
  url: string;
  /** Waits `ms` before answering (a slow partner). */
  delay(ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function startJsonEndpoint(o: { path: string; port?: number; handle: (req: http.IncomingMessage, raw: Buffer) => Promise<Answer> }): Promise<JsonEndpoint> {
  const delays = new Set<{ timer: NodeJS.Timeout; done: () => void }>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const [status, body]: Answer = req.method !== 'POST' || req.url !== o.path ? [404, { code: 'NOT_FOUND' }] : await o.handle(req, Buffer.concat(chunks));
      if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    delay: (ms) => new Promise<void>((done) => {
      const d = { timer: setTimeout(() => { delays.delete(d); done(); }, ms), done };
      delays.add(d);
    }),
    close: () => new Promise<void>((resolve) => {
      for (const d of delays) { clearTimeout(d.timer); d.done(); }
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
