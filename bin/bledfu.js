#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader, so a fresh clone works after `npm install`.
import { register } from 'tsx/esm/api';

register();
await import('../clients/cli/main.ts');
