#!/usr/bin/env node
// The `quiver` command: runs the compiled CLI (npm ci builds it through the prepare script).
import '../dist/src/cli/bin.js';
