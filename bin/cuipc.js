#!/usr/bin/env node
// Thin: everything lives in lib/cli, compiled to dist/cli and bundled into one file
// (scripts/bundle.mjs) so that the command starts without resolving a module tree.
import { main } from '../dist/bundle/cli.js';

await main(process.argv);
