// The automated pre-review end to end: the clinical knowledge loaded into PostgreSQL by the seed
// (idempotently, versioned), read by the activity that runs the checks, and the findings stored with
// the prescription and shown in the pharmacists' queue.
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM, EntityManager } from '@mikro-orm/postgresql';
import { actors, closeDb, sql } from './helpers';
import { demoPrescriptionContent, drugByName, signAsDemoHospital } from '../../demo/prescriptions';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { openOrm } from '../../db/orm';
import { CLINICAL_DIR, knowledgeFromFiles, loadClinicalKnowledge } from '../../catalog/clinical';
import { main as clinicalCli } from '../../catalog/clinical-cli';

let orm: MikroORM;
beforeAll(async () => { orm = await openOrm(process.env.DATABASE_URL!); });
afterAll(async () => { await orm.close(); await closeDb(); });
const em = () => orm.em.fork() as EntityManager;

const knowledge = knowledgeFromFiles();
const simvastatinClarithromycin = knowledge.interactions.find((e) => e.a.atc?.includes('C10AA01') && e.b.atc?.includes('J01FA09'))!;

function copyOfKnowledge(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rx-clinical-'));
  cpSync(CLINICAL_DIR, dir, { recursive: true });
  return dir;
}

async function pushAndQueue(drugs: string[], patient: Record<string, unknown> = {}) {
  const a = actors();
  const content = demoPrescriptionContent({ drugs: drugs.map((name) => ({ name })), chronic: false, patient });
  const pushed = await a.hospital.post('/v1/prescriptions', signAsDemoHospital(content));
  expect(pushed.status).toBe(201);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  return { id, a };
}

describe('clinical knowledge in PostgreSQL', () => {
  it('was loaded by the seed with each data set\'s version, and loading it again changes nothing', async () => {
    const sets = await sql(`select dataset, version, entry_count from clinical_knowledge_set order by dataset`);
    expect(sets.map((s) => s.dataset)).toEqual(['allergy-classes', 'contraindications', 'doses', 'duplicate-therapy', 'ingredients', 'interactions', 'renal']);
    expect(sets.find((s) => s.dataset === 'interactions').entry_count).toBeGreaterThanOrEqual(100);
    const [entries] = await sql(`select count(*)::int as n from clinical_knowledge_entry`);
    expect(entries.n).toBe(sets.reduce((n, s) => n + s.entry_count, 0));
    const [before] = await sql(`select count(*)::int as n from clinical_knowledge_load`);

    const again = await loadClinicalKnowledge(em());
    expect(again.every((r) => r.action === 'unchanged')).toBe(true);
    // The CLI is the same loader.
    let printed = '';
    const code = await clinicalCli(['load', '--json'], { write: (s: string) => { printed += s; return true; } } as any);
    expect(code).toBe(0);
    expect(JSON.parse(printed).map((r: any) => r.action)).toEqual(Array(7).fill('unchanged'));
    const [after] = await sql(`select count(*)::int as n from clinical_knowledge_load`);
    expect(after.n).toBe(before.n);
    printed = '';
    expect(await clinicalCli(['status', '--json'], { write: (s: string) => { printed += s; return true; } } as any)).toBe(0);
    expect(JSON.parse(printed).map((s: any) => [s.dataset, s.version])).toEqual(sets.map((s) => [s.dataset, s.version]));
  });

  it('refuses changed content under a loaded version and leaves the loaded knowledge as it was', async () => {
    const dir = copyOfKnowledge();
    try {
      const file = path.join(dir, 'interactions.v1.json');
      writeFileSync(file, readFileSync(file, 'utf8').replace('"severity": "warning"', '"severity": "info"'));
      const [before] = await sql(`select sha256 from clinical_knowledge_set where dataset = 'interactions'`);
      await expect(loadClinicalKnowledge(em(), dir)).rejects.toThrow(/give the change a new version/);
      const [after] = await sql(`select sha256 from clinical_knowledge_set where dataset = 'interactions'`);
      expect(after.sha256).toBe(before.sha256);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('findings of a pushed prescription', () => {
  let id: string;

  it('stores an interaction pair and an allergy by class with the prescription and returns them from GET /v1/review-queue/:id', async () => {
    // The demo patient is allergic to penicillin (青霉素): amoxicillin by class; simvastatin + clarithromycin: contraindicated pair.
    const pushed = await pushAndQueue(['阿莫西林胶囊', '辛伐他汀片', '克拉霉素片'], { weightKg: 72, renal: { egfr: 85 } });
    id = pushed.id;
    const detail = await pushed.a.pharmacist.get(`/v1/review-queue/${id}`);
    expect(detail.status).toBe(200);
    const flags = detail.body.prescription.flags as any[];

    const allergy = flags.find((f) => f.rule === 'ALLERGY');
    expect(allergy).toMatchObject({
      code: 'ALLERGY', severity: 'block', lines: [0], drugCodes: [drugByName('阿莫西林胶囊').code],
      evidence: { dataset: 'allergy-classes', version: 1, entryId: 'penicillins', basis: 'class', allergy: '青霉素' },
    });
    expect(allergy.message).toContain('青霉素');
    const interaction = flags.find((f) => f.rule === 'INTERACTION');
    expect(interaction).toMatchObject({
      severity: 'block', lines: [1, 2], drugCodes: [drugByName('辛伐他汀片').code, drugByName('克拉霉素片').code],
      evidence: { dataset: 'interactions', version: 1, entryId: simvastatinClarithromycin.id },
    });
    expect(detail.body.findingCounts.block).toBeGreaterThanOrEqual(2);
    expect(detail.body.patient).toMatchObject({ weightKg: 72, renal: { egfr: 85 }, allergies: ['青霉素'] });

    // Stored with the prescription, exactly as returned; the audit event names the knowledge versions used.
    const [row] = await sql(`select flags from prescription where id = ?`, [id]);
    expect(row.flags).toEqual(flags);
    const [queued] = await sql(`select data from audit_event where prescription_id = ? and action = 'review_queued'`, [id]);
    expect(queued.data.knowledge).toMatchObject({ interactions: 1, 'allergy-classes': 1 });

    const item = (await pushed.a.pharmacist.get('/v1/review-queue?limit=200')).body.items.find((i: any) => i.id === id);
    expect(item.seriousFlags).toBe(item.findingCounts.block);
    expect(item.flags.map((f: any) => f.rule)).toEqual(expect.arrayContaining(['ALLERGY', 'INTERACTION']));
  });

  it('reads flags stored in the first format: severity serious as block', async () => {
    await sql(`update prescription set flags = ?::jsonb where id = ?`, [JSON.stringify([{ code: 'DOSE', severity: 'serious', lines: [0], message: '超量' }]), id]);
    const detail = await actors().pharmacist.get(`/v1/review-queue/${id}`);
    expect(detail.body.prescription.flags).toEqual([expect.objectContaining({ rule: 'DOSE_HIGH', code: 'DOSE_HIGH', severity: 'block', message: '超量' })]);
    expect(detail.body.findingCounts).toEqual({ block: 1, warning: 0, info: 0 });
  });

  it('uses a newly loaded knowledge version at the next review', async () => {
    // Same entries under version 2: what changes is the version the findings cite.
    const dir = copyOfKnowledge();
    try {
      const file = path.join(dir, 'interactions.v2.json');
      renameSync(path.join(dir, 'interactions.v1.json'), file);
      writeFileSync(file, readFileSync(file, 'utf8').replace('"version": 1,', '"version": 2,'));
      const results = await loadClinicalKnowledge(em(), dir);
      expect(results.find((r) => r.dataset === 'interactions')).toMatchObject({ action: 'loaded', version: 2, previousVersion: 1 });
      expect(results.filter((r) => r.dataset !== 'interactions').every((r) => r.action === 'unchanged')).toBe(true);
      const history = await sql(`select version, previous_version from clinical_knowledge_load where dataset = 'interactions' order by id`);
      expect(history.at(-1)).toEqual({ version: 2, previous_version: 1 });
      // Going back to version 1 is refused.
      await expect(loadClinicalKnowledge(em())).rejects.toThrow(/refusing to go back/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const { id: next, a } = await pushAndQueue(['辛伐他汀片', '克拉霉素片']);
    const flags = (await a.pharmacist.get(`/v1/review-queue/${next}`)).body.prescription.flags as any[];
    expect(flags.find((f) => f.rule === 'INTERACTION').evidence).toMatchObject({ version: 2, entryId: simvastatinClarithromycin.id });
  });
});
