// The clinical knowledge files (catalog/data/clinical/<dataset>.v<N>.json): read and validate them,
// load them into PostgreSQL idempotently, and read them back as the pre-review's input.
// Run by the seed (engine/seed.ts) and by the CLI (catalog/clinical-cli.ts); docs/review-checks.md.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { canonicalJson } from '../domain/canonical';
import {
  DATASET_NAMES, KnowledgeFileError, assembleKnowledge, parseKnowledgeFile,
  type ClinicalKnowledge, type DatasetName, type KnowledgeSet,
} from '../domain/clinical-knowledge';

export const CLINICAL_DIR = path.join(__dirname, 'data', 'clinical');
const FILE = /^([a-z0-9-]+)\.v(\d+)\.json$/;

export interface KnowledgeFile extends KnowledgeSet { file: string }

/** The newest version of each data set in `dir`, validated. Throws KnowledgeFileError on bad data. */
export function readClinicalFiles(dir = CLINICAL_DIR): KnowledgeFile[] {
  const newest = new Map<string, { file: string; version: number }>();
  for (const file of readdirSync(dir)) {
    const m = FILE.exec(file);
    if (!m) continue;
    if (!(DATASET_NAMES as string[]).includes(m[1])) throw new KnowledgeFileError(`${file}: unknown data set ${m[1]}`);
    const version = Number(m[2]);
    if ((newest.get(m[1])?.version ?? 0) < version) newest.set(m[1], { file, version });
  }
  return [...newest.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([dataset, { file, version }]) => {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    } catch (e) {
      throw new KnowledgeFileError(`${file}: ${(e as Error).message}`);
    }
    // Hash the canonical JSON, not the bytes: reformatting a file is not a content change.
    const sha256 = createHash('sha256').update(canonicalJson(raw), 'utf8').digest('hex');
    try {
      return { ...parseKnowledgeFile(raw, sha256, { dataset, version }), file };
    } catch (e) {
      throw new KnowledgeFileError(`${file}: ${(e as Error).message}`);
    }
  });
}

/** The knowledge straight from the files (unit tests, the CLI's check); production reads PostgreSQL. */
export const knowledgeFromFiles = (dir = CLINICAL_DIR): ClinicalKnowledge => assembleKnowledge(readClinicalFiles(dir));

export interface LoadResult { dataset: DatasetName; version: number; previousVersion: number | null; entries: number; action: 'loaded' | 'unchanged' }

/**
 * Loads every data set of `dir` whose version is not loaded yet, in one transaction. Loading the same
 * files again changes nothing. A file whose content differs from the loaded one under the same
 * version, or an older version than the loaded one, is refused: a change needs a new version.
 */
export async function loadClinicalKnowledge(em: EntityManager, dir = CLINICAL_DIR): Promise<LoadResult[]> {
  const files = readClinicalFiles(dir);
  return em.transactional(async (t) => {
    const sql = <T = any>(q: string, params: unknown[] = []) => t.getConnection().execute(q, params, 'all', t.getTransactionContext()) as Promise<T[]>;
    // The seed and the CLI may run at once: one loader at a time.
    await sql(`select pg_advisory_xact_lock(hashtext('clinical_knowledge'))`);
    const results: LoadResult[] = [];
    for (const f of files) {
      const [loaded] = await sql<{ version: number; sha256: string }>(`select version, sha256 from clinical_knowledge_set where dataset = ?`, [f.dataset]);
      if (loaded && loaded.version === f.version) {
        if (loaded.sha256 !== f.sha256) throw new KnowledgeFileError(`${f.file}: content differs from the loaded ${f.dataset} version ${f.version}; give the change a new version`);
        results.push({ dataset: f.dataset, version: f.version, previousVersion: loaded.version, entries: f.entries.length, action: 'unchanged' });
        continue;
      }
      if (loaded && loaded.version > f.version) throw new KnowledgeFileError(`${f.file}: version ${loaded.version} of ${f.dataset} is already loaded; refusing to go back to ${f.version}`);
      await sql(`delete from clinical_knowledge_entry where dataset = ?`, [f.dataset]);
      await sql(
        `insert into clinical_knowledge_set (dataset, version, sha256, entry_count, meta, source_file, loaded_at) values (?, ?, ?, ?, ?::jsonb, ?, now())
         on conflict (dataset) do update set version = excluded.version, sha256 = excluded.sha256, entry_count = excluded.entry_count,
           meta = excluded.meta, source_file = excluded.source_file, loaded_at = excluded.loaded_at`,
        [f.dataset, f.version, f.sha256, f.entries.length, JSON.stringify(f.meta), f.file]);
      const rows = f.entries as { id: string; severity?: string }[];
      for (let at = 0; at < rows.length; at += 500) {
        const chunk = rows.slice(at, at + 500);
        await sql(
          `insert into clinical_knowledge_entry (dataset, entry_id, position, version, severity, data) values ${chunk.map(() => '(?, ?, ?, ?, ?, ?::jsonb)').join(', ')}`,
          chunk.flatMap((e, i) => [f.dataset, e.id, at + i, f.version, e.severity ?? null, JSON.stringify(e)]));
      }
      await sql(`insert into clinical_knowledge_load (dataset, version, sha256, previous_version, entry_count) values (?, ?, ?, ?, ?)`,
        [f.dataset, f.version, f.sha256, loaded?.version ?? null, f.entries.length]);
      results.push({ dataset: f.dataset, version: f.version, previousVersion: loaded?.version ?? null, entries: f.entries.length, action: 'loaded' });
    }
    return results;
  });
}

export interface LoadedSet { dataset: string; version: number; sha256: string; entryCount: number; sourceFile: string; loadedAt: Date }

export async function loadedSets(em: EntityManager): Promise<LoadedSet[]> {
  const rows: any[] = await em.getConnection().execute(`select dataset, version, sha256, entry_count, source_file, loaded_at from clinical_knowledge_set order by dataset`);
  return rows.map((r) => ({ dataset: r.dataset, version: r.version, sha256: r.sha256, entryCount: r.entry_count, sourceFile: r.source_file, loadedAt: new Date(r.loaded_at) }));
}

/** The loaded knowledge, as the checks take it. */
export async function readClinicalKnowledge(em: EntityManager): Promise<ClinicalKnowledge> {
  const conn = em.getConnection();
  const sets: any[] = await conn.execute(`select dataset, version, sha256, meta from clinical_knowledge_set`);
  const entries: any[] = await conn.execute(`select dataset, data from clinical_knowledge_entry order by dataset, position`);
  return assembleKnowledge(sets.map((s) => ({
    dataset: s.dataset, version: s.version, sha256: s.sha256, meta: s.meta,
    entries: entries.filter((e) => e.dataset === s.dataset).map((e) => e.data),
  })));
}

/**
 * A reader that keeps the assembled knowledge while the loaded versions stay the same: each review
 * costs one small query, and a newly loaded version is picked up at the next review.
 */
export function knowledgeReader(): (em: EntityManager) => Promise<ClinicalKnowledge> {
  let cached: { key: string; knowledge: ClinicalKnowledge } | null = null;
  return async (em) => {
    const [row]: any[] = await em.getConnection().execute(`select coalesce(string_agg(dataset || ':' || sha256, ',' order by dataset), '') as key from clinical_knowledge_set`);
    if (cached && cached.key === row.key) return cached.knowledge;
    const knowledge = await readClinicalKnowledge(em);
    cached = { key: row.key, knowledge };
    return knowledge;
  };
}
