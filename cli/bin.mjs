#!/usr/bin/env node
// The `ivrflow` command: loads the TypeScript sources through tsx, then runs cli/main.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
