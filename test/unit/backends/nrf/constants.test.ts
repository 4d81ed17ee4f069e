import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BLE_CONN_HANDLE_INVALID,
  CFG_ID,
  COMMAND_KINDS,
  EVENT_KINDS,
  EVENTS,
  GAP_ROLE,
  GAP_TIMEOUT_SRC,
  GATT_HVX,
  GATT_STATUS,
  GATT_WRITE_OP,
  NRF_ERROR,
  SD_FUNCTIONS,
  type ConfigKind,
} from '../../../../server/backends/nrf/serialization/constants.js';
import { commandOpcode } from '../../../../server/backends/nrf/serialization/commands.js';
import { apiTable } from '../../../../server/backends/nrf/serialization/versions.js';
import { APIS, constantsVectors, NEEDS_NRF_VECTORS } from '../../../helpers/nrf-vectors.js';


const CFG_NAMES = {
  commonVsUuid: 'BLE_COMMON_CFG_VS_UUID',
  connGap: 'BLE_CONN_CFG_GAP',
  connGattc: 'BLE_CONN_CFG_GATTC',
  connGatts: 'BLE_CONN_CFG_GATTS',
  connGatt: 'BLE_CONN_CFG_GATT',
  gapRoleCount: 'BLE_GAP_CFG_ROLE_COUNT',
} as const satisfies Record<ConfigKind, string>;

/** Our named constants next to the header names they stand for. */
const ENUMS: readonly [Readonly<Record<string, number>>, Readonly<Record<string, string>>][] = [
  [GAP_ROLE, { periph: 'BLE_GAP_ROLE_PERIPH', central: 'BLE_GAP_ROLE_CENTRAL' }],
  [GAP_TIMEOUT_SRC, { scan: 'BLE_GAP_TIMEOUT_SRC_SCAN', conn: 'BLE_GAP_TIMEOUT_SRC_CONN', authPayload: 'BLE_GAP_TIMEOUT_SRC_AUTH_PAYLOAD' }],
  [
    GATT_WRITE_OP,
    {
      writeReq: 'BLE_GATT_OP_WRITE_REQ',
      writeCmd: 'BLE_GATT_OP_WRITE_CMD',
      signWriteCmd: 'BLE_GATT_OP_SIGN_WRITE_CMD',
      prepWriteReq: 'BLE_GATT_OP_PREP_WRITE_REQ',
      execWriteReq: 'BLE_GATT_OP_EXEC_WRITE_REQ',
    },
  ],
  [GATT_HVX, { notification: 'BLE_GATT_HVX_NOTIFICATION', indication: 'BLE_GATT_HVX_INDICATION' }],
  [GATT_STATUS, { success: 'BLE_GATT_STATUS_SUCCESS', attributeNotFound: 'BLE_GATT_STATUS_ATTERR_ATTRIBUTE_NOT_FOUND' }],
  [
    NRF_ERROR,
    {
      noMem: 'NRF_ERROR_NO_MEM',
      notSupported: 'NRF_ERROR_NOT_SUPPORTED',
      invalidParam: 'NRF_ERROR_INVALID_PARAM',
      invalidState: 'NRF_ERROR_INVALID_STATE',
      busy: 'NRF_ERROR_BUSY',
      connCount: 'NRF_ERROR_CONN_COUNT',
      resources: 'NRF_ERROR_RESOURCES',
    },
  ],
];

for (const api of APIS) {
  const headerConstants = (): Record<string, number> => constantsVectors()[`sd_api_v${api}`];
  const header = (name: string): number => {
    const v = headerConstants()[name];
    if (v === undefined) throw new Error(`${name} is not in constants.json for API v${api}`);
    return v;
  };

  describe(`constants agree with Nordic's API v${api} headers (constants.json)`, NEEDS_NRF_VECTORS, () => {
    it('opcodes of every call we serialize', () => {
      for (const kind of COMMAND_KINDS) assert.equal(commandOpcode(api, kind), header(SD_FUNCTIONS[kind].toUpperCase()), kind);
    });

    it('event ids', () => {
      for (const kind of EVENT_KINDS) assert.equal(EVENTS[kind].id, header(EVENTS[kind].name), kind);
    });

    it('configuration ids', () => {
      for (const [kind, name] of Object.entries(CFG_NAMES)) assert.equal(CFG_ID[kind as ConfigKind], header(name), kind);
    });

    it('result code names, including the ones that differ between versions', () => {
      const names = apiTable(api).resultNames;
      const headerErrors = Object.entries(headerConstants()).filter(([name]) => /^(NRF_SUCCESS|NRF_ERROR_|BLE_ERROR_)/.test(name));
      assert.ok(headerErrors.length > 20);
      for (const [name, code] of headerErrors) assert.equal(names[code], name, `0x${code.toString(16)}`);
    });

    it('enum values', () => {
      assert.equal(BLE_CONN_HANDLE_INVALID, header('BLE_CONN_HANDLE_INVALID'));
      for (const [values, names] of ENUMS) {
        for (const [key, name] of Object.entries(names)) assert.equal(values[key], header(name), name);
      }
    });
  });
}
