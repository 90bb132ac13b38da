#!/usr/bin/env node
// The `chat` command: loads the TypeScript sources through tsx, so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
await import('../gateways/cli/main.ts');
