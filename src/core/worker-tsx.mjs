// Runs the TypeScript worker when the server itself runs from source under tsx (tests,
// `npm run dev`). Compiled builds load worker.js directly and never use this file.
import { register } from 'tsx/esm/api';

register();
const mod = await import('./worker.ts');
export default mod.default;
