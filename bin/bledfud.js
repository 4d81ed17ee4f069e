#!/usr/bin/env node
// Runs the TypeScript server through tsx's loader, so a fresh clone works after `npm install`.
import { register } from 'tsx/esm/api';

register();
await import('../server/main.ts');
