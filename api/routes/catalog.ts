// Catalogue search (Elasticsearch) for every authenticated party.
import Router from '@koa/router';
import { z } from 'zod';
import { listPharmacies, searchDrugs } from '../../catalog/queries';
import type { ApiDeps } from '../app';
import { authorize } from '../access';

const DrugQuery = z.object({
  q: z.string().max(100).default(''),
  rxClass: z.enum(['Rx', 'OTC']).optional(),
  dosageForm: z.string().max(20).optional(),
  insuranceClass: z.enum(['A', 'B', 'none']).optional(),
  storage: z.enum(['normal', 'cool', 'cold']).optional(),
  onlineOnly: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  size: z.coerce.number().int().min(1).max(100).default(20),
});
const PharmacyQuery = z.object({
  city: z.string().max(20).optional(),
  lat: z.coerce.number().min(-90).max(90).optional(),
  lng: z.coerce.number().min(-180).max(180).optional(),
  radiusKm: z.coerce.number().positive().max(100).default(10),
  size: z.coerce.number().int().min(1).max(200).default(50),
}).refine((q) => (q.lat === undefined) === (q.lng === undefined), { message: 'lat and lng go together', path: ['lat'] });

export function catalogRoutes(deps: ApiDeps): Router {
  const r = new Router();
  r.get('/v1/drugs', authorize('catalog.read'), async (ctx) => {
    const q = DrugQuery.parse(ctx.query);
    ctx.body = await searchDrugs(deps.es, deps.config.indexPrefix, q);
  });
  r.get('/v1/pharmacies', authorize('catalog.read'), async (ctx) => {
    const q = PharmacyQuery.parse(ctx.query);
    const near = q.lat !== undefined && q.lng !== undefined ? { lat: q.lat, lng: q.lng } : undefined;
    ctx.body = { items: await listPharmacies(deps.es, deps.config.indexPrefix, { city: q.city, near, radiusKm: q.radiusKm, size: q.size }) };
  });
  return r;
}
