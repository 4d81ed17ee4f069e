#!/usr/bin/env node
// The bledfu server, compiled (dist/server/main.js); see bin/compiled.js.
import { importCompiled } from './compiled.js';

await importCompiled('server/main', 'bledfud');
