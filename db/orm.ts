// MikroORM setup shared by the API, the worker, migrations and tests.
// Foreign keys are declared in the migrations' SQL, not as ORM relations: review a generated migration
// and drop its `drop constraint "…_fk"` lines.
import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import path from 'node:path';
import { ENTITIES } from './entities';

export function ormOptions(databaseUrl: string): Options {
  return {
    clientUrl: databaseUrl,
    entities: ENTITIES,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: true },
    debug: false,
    pool: { min: 0, max: Number(process.env.RX_DB_POOL ?? 10) },
    migrations: {
      path: path.join(__dirname, 'migrations'),
      pathTs: path.join(__dirname, 'migrations'),
      glob: '!(*.d).{js,ts}',
      transactional: true,
      snapshot: false,
      silent: true,
    },
  };
}

export async function openOrm(databaseUrl: string): Promise<MikroORM> {
  return MikroORM.init(ormOptions(databaseUrl));
}

export async function migrate(orm: MikroORM): Promise<void> {
  await orm.getMigrator().up();
}
