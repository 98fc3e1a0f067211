// `tsx engine/main.ts` — runs the engine: the HTTP API and a Temporal worker in one process.
// Scale out by running more of these (RX_ROLE=api or RX_ROLE=worker runs only one half).
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { loadConfig } from './config';
import { openServices, startApi, startWorker } from './runtime';

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } } });
  const config = loadConfig();
  const role = process.env.RX_ROLE ?? 'all';
  const services = await openServices(config);
  const worker = role === 'api' ? null : await startWorker(services);
  const api = role === 'worker' ? null : await startApi(services);
  console.log(`[rxflow] ready: ${api ? `API ${api.url}` : 'no API'}; ${worker ? `worker on task queue ${config.taskQueue}` : 'no worker'}; Temporal ${config.temporalAddress}`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('[rxflow] shutting down');
    api?.server.close();
    await worker?.sync.stop();
    worker?.worker.shutdown();
    await worker?.running;
    await worker?.connection.close();
    await services.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (worker) worker.running.catch((e) => { console.error('[rxflow] worker failed', e); process.exit(1); });
}

main().catch((e) => { console.error('[rxflow] failed to start:', e); process.exit(1); });
