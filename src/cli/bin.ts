import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
// Anything still holding the event loop (a stuck client socket) must not keep us alive.
setTimeout(() => process.exit(), 200).unref();
