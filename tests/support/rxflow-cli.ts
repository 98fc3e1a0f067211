// The operator's CLI as an operator runs it: ./rxflow spawned as a process with the test's environment.
import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

export interface Run { code: number | null; stdout: string; stderr: string }
export function rxflow(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(ROOT, 'rxflow'), args, { cwd: ROOT, env: { ...process.env, RX_DEBUG: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
