// The benchmarks' one command-line reader (bench/lib/args.ts).
import { cliArgs } from '../../bench/lib/args';

describe('bench command line', () => {
  it('reads options, flags and the short -n, and refuses a missing required option', () => {
    const a = cliArgs(['-n', '500', '--kills', '20', '--ceiling-local', '--rate']);
    expect([a.get('n', '1'), a.get('kills', '0'), a.get('seed', '42')]).toEqual(['500', '20', '42']);
    expect([a.has('ceiling-local'), a.has('keep'), a.has('kills')]).toEqual([true, false, true]);
    expect(a.get('rate', '7')).toBe('7'); // a flag with no value after it keeps the fallback
    expect(() => a.get('db')).toThrow('--db is required');
    expect(cliArgs(['-kills', '3']).get('kills', '0')).toBe('0'); // only one-letter names have a short form
  });
});
