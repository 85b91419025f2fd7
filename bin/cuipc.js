#!/usr/bin/env node
// Thin: everything lives in lib/cli (compiled to dist/cli).
import { main } from '../dist/cli/main.js';

await main(process.argv);
