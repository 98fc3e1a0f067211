import { assertTransition, canTransition, isCancellable, isTerminal, canDeliveryTransition, PRESCRIPTION_STATUSES, IllegalTransition } from '../../domain/prescription-status';

describe('prescription state machine', () => {
  it('walks the happy path in order', () => {
    const path = ['received', 'in_review', 'approved', 'priced', 'matching', 'dispensed', 'in_delivery', 'delivered', 'follow_up', 'completed'] as const;
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1], path[i])).toBe(true);
  });

  it('never dispenses before approval (先方后药)', () => {
    for (const from of ['received', 'in_review', 'rejected'] as const) expect(canTransition(from, 'dispensed')).toBe(false);
    expect(() => assertTransition('in_review', 'dispensed')).toThrow(IllegalTransition);
  });

  it('allows cancellation only before dispensing', () => {
    expect(isCancellable('in_review')).toBe(true);
    expect(isCancellable('matching')).toBe(true);
    expect(isCancellable('dispensed')).toBe(false);
    expect(isCancellable('in_delivery')).toBe(false);
  });

  it('has terminal states that go nowhere', () => {
    const terminal = PRESCRIPTION_STATUSES.filter(isTerminal).sort();
    expect(terminal).toEqual(['cancelled', 'completed', 'expired', 'rejected', 'returned', 'unfulfillable']);
  });

  it('orders delivery updates', () => {
    expect(canDeliveryTransition('assigned', 'picked_up')).toBe(true);
    expect(canDeliveryTransition('assigned', 'delivered')).toBe(false);
    expect(canDeliveryTransition('in_transit', 'failed')).toBe(true);
    expect(canDeliveryTransition('delivered', 'failed')).toBe(false);
  });
});
