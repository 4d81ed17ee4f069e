#!/usr/bin/env node
// The bledfu CLI, compiled (dist/clients/cli/main.js); see bin/compiled.js.
import { importCompiled } from './compiled.js';

await importCompiled('clients/cli/main', 'bledfu');
