// Runs the TypeScript trial child when the server itself runs from source under tsx (tests,
// `npm run dev`). Compiled builds run trial-child.js directly and never use this file.
import { register } from 'tsx/esm/api';

register();
await import('./trial-child.ts');
