// Runs the TypeScript log writer when the server itself runs from source under tsx (tests,
// `npm run dev`). Compiled builds load sqlite-log-worker.js directly and never use this file.
import { register } from 'tsx/esm/api';

register();
await import('./sqlite-log-worker.ts');
