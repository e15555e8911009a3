// `quiver health` (run by probes every few seconds) loads only what it needs; the rest loads the full CLI.
const argv = process.argv.slice(2);
process.exitCode =
  argv[0] === 'health' ? await (await import('./health-command.js')).healthMain(argv) : await (await import('./main.js')).main(argv);
// Anything still holding the event loop (a stuck client socket) must not keep us alive.
setTimeout(() => process.exit(), 200).unref();
