/** ListAdapters. */
import type { ListAdaptersResponse } from '../../proto/gen/bledfu/v1/adapter.js';
import type { ServiceDeps } from './deps.js';
import { adapterToProto } from './mapBle.js';

export function listAdapters(deps: ServiceDeps): ListAdaptersResponse {
  return { adapters: deps.adapters.list().map((a) => adapterToProto(a.info())) };
}
