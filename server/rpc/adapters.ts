/** ListAdapters and ListSerialPorts. */
import type { ListAdaptersResponse, ListSerialPortsResponse } from '../../proto/gen/bledfu/v1/adapter.js';
import type { ServiceDeps } from './deps.js';
import { adapterToProto } from './mapBle.js';

export function listAdapters(deps: ServiceDeps): ListAdaptersResponse {
  return { adapters: deps.adapters.list().map((a) => adapterToProto(a.info())) };
}

export async function listSerialPorts(deps: ServiceDeps): Promise<ListSerialPortsResponse> {
  const ports = await deps.listSerialPorts();
  return {
    ports: ports.map((p) => ({
      path: p.path,
      byIdPath: p.byIdPath ?? '',
      vendorId: p.vendorId ?? '',
      productId: p.productId ?? '',
      serialNumber: p.serialNumber ?? '',
      manufacturer: p.manufacturer ?? '',
      product: p.product ?? '',
      driver: p.driver ?? '',
      knownName: p.known?.name ?? '',
      hint: p.known?.hint ?? '',
    })),
  };
}
