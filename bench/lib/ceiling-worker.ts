// The benchmark's ceiling worker (bench/e2e.ts starts N of these): workflows/bench-ceiling.ts with no-op
// activities on RX_TASK_QUEUE, tuned by the same RX_WORKER_* variables as the engine's worker
// (engine/config.ts), so the ceiling and rxflow run under the same worker settings. Prints a ready line
// like engine/main.ts, which the benchmark waits for to time start-up.
//   RX_TASK_QUEUE=rxe2e-ceiling node --import tsx bench/lib/ceiling-worker.ts
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, makeTelemetryFilterString } from '@temporalio/worker';
import { loadConfig, loadWorkerTuning, type WorkerTuning } from '../../engine/config';
import type { CeilingActivities } from '../../workflows/bench-ceiling';

export const ceilingActivities: CeilingActivities = {
  async step(name: string) { return name; },
};

const quiet = { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as never;

/** A ceiling worker in this process (the integration test uses this; the benchmark runs it as a child). */
export async function startCeilingWorker(o: { address: string; namespace: string; taskQueue: string; tuning?: WorkerTuning }) {
  const connection = await NativeConnection.connect({ address: o.address });
  const worker = await Worker.create({
    connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows/bench-ceiling'), logger: quiet }),
    activities: ceilingActivities,
    ...(o.tuning ?? {}),
  });
  const running = worker.run();
  return { worker, running, connection };
}

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } } });
  const config = loadConfig();
  const w = await startCeilingWorker({ address: config.temporalAddress, namespace: config.temporalNamespace, taskQueue: config.taskQueue, tuning: loadWorkerTuning() });
  console.log(`[ceiling] ready: worker on task queue ${config.taskQueue}`);
  const stop = async () => { w.worker.shutdown(); await w.running; await w.connection.close(); process.exit(0); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  w.running.catch((e) => { console.error('[ceiling] worker failed', e); process.exit(1); });
}

if (require.main === module) main().catch((e) => { console.error('[ceiling] failed to start:', e); process.exit(1); });
