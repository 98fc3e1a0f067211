// `tsx engine/seed.ts` — migrates the database and loads the demo catalogue and demo parties.
import { loadConfig } from './config';
import { openServices } from './runtime';
import { seedCatalogue } from '../catalog/ingest';
import { seedDemoParties, seedDemoPharmacistReview } from '../demo/fixtures';
import { loadClinicalKnowledge } from '../catalog/clinical';
import { loadInsurancePolicies } from '../catalog/insurance';
import type { EntityManager } from '@mikro-orm/postgresql';

export async function seedAll(s: Awaited<ReturnType<typeof openServices>>) {
  const counts = await seedCatalogue(s.orm.em.fork() as EntityManager, s.es, s.config.indexPrefix);
  await seedDemoParties(s.orm);
  await seedDemoPharmacistReview(s.orm, s.config.reviewKeySecret);
  // The automated pre-review's knowledge (catalog/data/clinical); idempotent, records the loaded versions.
  const clinical = await loadClinicalKnowledge(s.orm.em.fork() as EntityManager);
  // The insurance policy tables (catalog/data/insurance, docs/insurance.md); idempotent, a loaded version never changes.
  const insurance = await loadInsurancePolicies(s.orm.em.fork() as EntityManager);
  return { ...counts, clinical, insurance };
}

if (require.main === module) {
  (async () => {
    const s = await openServices(loadConfig());
    const counts = await seedAll(s);
    console.log(`[rxflow] catalogue seeded: ${counts.drugs} drugs, ${counts.pharmacies} pharmacies, ${counts.stockRows} stock rows; demo parties loaded; clinical knowledge ${counts.clinical.map((c) => `${c.dataset} v${c.version}${c.action === 'unchanged' ? '' : ' (loaded)'}`).join(', ')}`);
    await s.close();
  })().catch((e) => { console.error(e); process.exit(1); });
}
