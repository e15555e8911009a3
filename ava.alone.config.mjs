// The tests that must have the machine to themselves (several servers under continuous load,
// with a propagation deadline): `npm test` runs them after the main suite, one at a time.
import base from './package.json' with { type: 'json' };

export default { ...base.ava, files: ['test/alone/**/*.test.ts'], concurrency: 1 };
