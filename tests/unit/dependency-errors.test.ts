// Which errors mean "a service is down, retry" (503 with Retry-After) rather than a bug (500): the shapes
// the PostgreSQL, Elasticsearch and Temporal clients give when their service restarts (docs/reliability.md).
import { dependencyDown } from '../../api/errors';

const err = (props: Record<string, unknown>, message = 'x') => Object.assign(new Error(message), props);

describe('dependencyDown', () => {
  it.each([
    ['a refused connection', err({ code: 'ECONNREFUSED' })],
    ['a reset socket', err({ code: 'ECONNRESET' })],
    ['an administrator shutdown (57P01)', err({ code: '57P01' })],
    ['a crash shutdown (57P02)', err({ code: '57P02' })],
    ['a server starting up (57P03)', err({ code: '57P03' })],
    ['too many connections while pools reconnect (53300)', err({ code: '53300' })],
    ['node-postgres losing its connection', err({}, 'Connection terminated unexpectedly')],
    ['node-postgres timing out a connect', err({}, 'Connection terminated due to connection timeout')],
    ['a client broken by an earlier connection error', err({}, 'Client has encountered a connection error and is not queryable')],
    ['the pool waiting in vain for a connection', err({ name: 'KnexTimeoutError' }, 'Knex: Timeout acquiring a connection. The pool is probably full.')],
    ['a wrapped cause', err({ cause: err({}, 'Connection terminated unexpectedly') })],
  ])('PostgreSQL: %s', (_name, e) => {
    expect(dependencyDown(e)).toBe('PostgreSQL');
  });

  it('Elasticsearch and Temporal keep their names', () => {
    expect(dependencyDown(err({ name: 'ConnectionError' }))).toBe('Elasticsearch');
    expect(dependencyDown(err({ name: 'ServiceError' }, '14 UNAVAILABLE: Connection refused'))).toBe('Temporal');
    expect(dependencyDown(err({ code: 4 }))).toBe('Temporal');
    // A decision no worker took in time (the worker killed mid-run): retry later, not a bug.
    expect(dependencyDown(err({ name: 'WorkflowUpdateRPCTimeoutOrCancelledError' }, 'Timeout or cancellation waiting for update'))).toBe('Temporal');
    // "Workflow Update failed" wrapping an aborted or throttled gRPC call.
    expect(dependencyDown(err({ name: 'ServiceError', cause: err({ code: 10 }, '10 ABORTED: Workflow Update was aborted.') }, 'Workflow Update failed'))).toBe('Temporal');
    expect(dependencyDown(err({ name: 'ServiceError', cause: err({ code: 8 }, '8 RESOURCE_EXHAUSTED') }, 'Workflow Update failed'))).toBe('Temporal');
  });

  it('a bug is not a dependency', () => {
    for (const e of [new TypeError('cannot read properties of undefined'), err({ code: '23505' }, 'duplicate key'), err({ code: '42P01' }, 'relation does not exist'), null, 'text']) {
      expect(dependencyDown(e)).toBeNull();
    }
  });
});
