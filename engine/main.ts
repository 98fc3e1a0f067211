// `tsx engine/main.ts` — runs the engine: the HTTP API and a Temporal worker in one process.
// Scale out by running more of these (RX_ROLE=api or RX_ROLE=worker runs only one half).
import { loadConfig } from './config';
import { openServices, startApi, startWorker } from './runtime';
import { installTemporalRuntime, log } from './log';

async function main() {
  installTemporalRuntime();
  const config = loadConfig();
  const role = process.env.RX_ROLE ?? 'all';
  const services = await openServices(config);
  const worker = role === 'api' ? null : await startWorker(services);
  const api = role === 'worker' ? null : await startApi(services);
  log.info({ component: 'engine', role, api: api?.url ?? null, taskQueue: worker ? config.taskQueue : null, temporal: config.temporalAddress, startupMs: Math.round(performance.now()) }, 'ready');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log.info({ component: 'engine' }, 'shutting down');
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
  if (worker) worker.running.catch((e) => { log.fatal({ component: 'engine', err: { message: e.message, stack: e.stack } }, 'worker failed'); process.exit(1); });
}

main().catch((e) => { log.fatal({ component: 'engine', err: { message: e.message, stack: e.stack } }, 'failed to start'); process.exit(1); });
