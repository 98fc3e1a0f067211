// Unit tests need no services; integration tests run against the real local stack (./rx test starts it).
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
// jose (console sessions) ships ES modules only and jest loads CommonJS without --experimental-vm-modules:
// swc compiles jose too.
transform['/node_modules/jose/.+\\.js$'] = transform['^.+\\.ts$'];
const transformIgnorePatterns = ['/node_modules/(?!jose/)'];
module.exports = {
  // Journeys wait on real timers (pharmacy response, follow-ups); a global option in Jest 30.
  testTimeout: 120000,
  projects: [
    { displayName: 'unit', testEnvironment: 'node', transform, transformIgnorePatterns, testMatch: ['<rootDir>/tests/unit/**/*.test.ts'] },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      testMatch: ['<rootDir>/tests/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/tests/integration/global-setup.ts',
      globalTeardown: '<rootDir>/tests/integration/global-teardown.ts',
    },
  ],
};
