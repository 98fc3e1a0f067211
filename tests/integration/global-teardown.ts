import { Runtime } from '@temporalio/worker';

export default async function globalTeardown(): Promise<void> {
  const rx = (globalThis as any).__rx;
  if (!rx) return;
  rx.api.server.closeAllConnections();
  rx.api.server.close();
  await rx.worker.sync.stop();
  rx.worker.worker.shutdown();
  await rx.worker.running;
  await rx.worker.connection.close();
  await rx.services.close();
  await Runtime.instance().shutdown();
}
