// GET /openapi.json: every mounted route is described, and request bodies are the validating schemas.
import { actors, apiUrl } from './helpers';
import { demoPrescription } from '../../demo/prescriptions';

const doc = async () => (await fetch(`${apiUrl()}/openapi.json`)).json() as Promise<any>;

it('lists every route the API serves, with its path parameters and the error shape', async () => {
  const d = await doc();
  expect(d.openapi).toBe('3.1.0');
  const ops = Object.entries(d.paths as Record<string, Record<string, any>>).flatMap(([p, m]) => Object.keys(m).map((k) => `${k.toUpperCase()} ${p}`));
  expect(ops).toEqual(expect.arrayContaining([
    'POST /v1/prescriptions', 'GET /v1/prescriptions/{id}', 'POST /v1/review-queue/{id}/claim', 'POST /v1/pharmacy/orders/{orderId}/dispense',
    'PUT /v1/pharmacy/stock', 'POST /v1/deliveries/{id}/status', 'GET /v1/events', 'GET /health', 'GET /metrics', 'POST /console/login',
  ]));
  expect(d.paths['/v1/prescriptions/{id}'].get.parameters).toEqual([{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }]);
  expect(d.components.schemas.Error.properties.error.required).toEqual(['code', 'message']);
});

it('describes the intake body with the schema that validates it', async () => {
  const schema = (await doc()).paths['/v1/prescriptions'].post.requestBody.content['application/json'].schema;
  expect(schema.required).toEqual(expect.arrayContaining(['rxNo', 'issuedAt', 'patient', 'lines', 'signature']));
  expect(schema.properties.lines.items.properties.quantity.type).toBe('integer');
  // What the document calls required, the API refuses without, naming the same field.
  const { rxNo: _drop, ...noNumber } = demoPrescription();
  const r = await actors().hospital.post('/v1/prescriptions', noNumber);
  expect(r.status).toBe(400);
  expect(r.body.error.details.map((x: any) => x.path)).toContain('$.rxNo');
});
