/**
 * Numbers of the SoftDevice serialization that are the same in API v5 and v6: packet types,
 * the SoftDevice functions we call, event ids, configuration ids, result codes and enum values.
 * Everything that differs between the versions lives in versions.ts.
 */

export type ApiVersion = 5 | 6;
export const API_VERSIONS: readonly ApiVersion[] = [5, 6];

/** First byte of every H5 vendor payload. */
export const SER_PACKET_TYPE = {
  command: 0x00,
  response: 0x01,
  event: 0x02,
  dtmCommand: 0x03,
  dtmResponse: 0x04,
  /** sd_rpc_conn_reset: host → device, no response; the device re-syncs afterwards. */
  resetCommand: 0x05,
} as const satisfies Record<string, number>;

/** The SoftDevice calls this codec serializes, by our name; opcodes per API in versions.ts. */
export const SD_FUNCTIONS = {
  enable: 'sd_ble_enable',
  uuidVsAdd: 'sd_ble_uuid_vs_add',
  versionGet: 'sd_ble_version_get',
  userMemReply: 'sd_ble_user_mem_reply',
  cfgSet: 'sd_ble_cfg_set',
  gapAddrGet: 'sd_ble_gap_addr_get',
  gapConnParamUpdate: 'sd_ble_gap_conn_param_update',
  gapDisconnect: 'sd_ble_gap_disconnect',
  gapScanStart: 'sd_ble_gap_scan_start',
  gapScanStop: 'sd_ble_gap_scan_stop',
  gapConnect: 'sd_ble_gap_connect',
  gapConnectCancel: 'sd_ble_gap_connect_cancel',
  gapPhyUpdate: 'sd_ble_gap_phy_update',
  gapDataLengthUpdate: 'sd_ble_gap_data_length_update',
  gattcPrimaryServicesDiscover: 'sd_ble_gattc_primary_services_discover',
  gattcCharacteristicsDiscover: 'sd_ble_gattc_characteristics_discover',
  gattcDescriptorsDiscover: 'sd_ble_gattc_descriptors_discover',
  gattcRead: 'sd_ble_gattc_read',
  gattcWrite: 'sd_ble_gattc_write',
  gattcHvConfirm: 'sd_ble_gattc_hv_confirm',
  gattcExchangeMtuRequest: 'sd_ble_gattc_exchange_mtu_request',
  gattsSysAttrSet: 'sd_ble_gatts_sys_attr_set',
  gattsExchangeMtuReply: 'sd_ble_gatts_exchange_mtu_reply',
} as const satisfies Record<string, string>;

export type CommandKind = keyof typeof SD_FUNCTIONS;
export const COMMAND_KINDS = Object.keys(SD_FUNCTIONS) as CommandKind[];

/** Event ids (ble_evt_hdr_t.evt_id) we decode, with the SoftDevice's names for logs. */
export const EVENTS = {
  userMemRequest: { id: 0x01, name: 'BLE_EVT_USER_MEM_REQUEST' },
  gapConnected: { id: 0x10, name: 'BLE_GAP_EVT_CONNECTED' },
  gapDisconnected: { id: 0x11, name: 'BLE_GAP_EVT_DISCONNECTED' },
  gapConnParamUpdate: { id: 0x12, name: 'BLE_GAP_EVT_CONN_PARAM_UPDATE' },
  gapTimeout: { id: 0x1b, name: 'BLE_GAP_EVT_TIMEOUT' },
  gapAdvReport: { id: 0x1d, name: 'BLE_GAP_EVT_ADV_REPORT' },
  gapConnParamUpdateRequest: { id: 0x1f, name: 'BLE_GAP_EVT_CONN_PARAM_UPDATE_REQUEST' },
  gapPhyUpdateRequest: { id: 0x21, name: 'BLE_GAP_EVT_PHY_UPDATE_REQUEST' },
  gapPhyUpdate: { id: 0x22, name: 'BLE_GAP_EVT_PHY_UPDATE' },
  gapDataLengthUpdateRequest: { id: 0x23, name: 'BLE_GAP_EVT_DATA_LENGTH_UPDATE_REQUEST' },
  gapDataLengthUpdate: { id: 0x24, name: 'BLE_GAP_EVT_DATA_LENGTH_UPDATE' },
  gattcPrimSrvcDiscRsp: { id: 0x30, name: 'BLE_GATTC_EVT_PRIM_SRVC_DISC_RSP' },
  gattcCharDiscRsp: { id: 0x32, name: 'BLE_GATTC_EVT_CHAR_DISC_RSP' },
  gattcDescDiscRsp: { id: 0x33, name: 'BLE_GATTC_EVT_DESC_DISC_RSP' },
  gattcReadRsp: { id: 0x36, name: 'BLE_GATTC_EVT_READ_RSP' },
  gattcWriteRsp: { id: 0x38, name: 'BLE_GATTC_EVT_WRITE_RSP' },
  gattcHvx: { id: 0x39, name: 'BLE_GATTC_EVT_HVX' },
  gattcExchangeMtuRsp: { id: 0x3a, name: 'BLE_GATTC_EVT_EXCHANGE_MTU_RSP' },
  gattcTimeout: { id: 0x3b, name: 'BLE_GATTC_EVT_TIMEOUT' },
  gattcWriteCmdTxComplete: { id: 0x3c, name: 'BLE_GATTC_EVT_WRITE_CMD_TX_COMPLETE' },
  gattsSysAttrMissing: { id: 0x52, name: 'BLE_GATTS_EVT_SYS_ATTR_MISSING' },
  gattsExchangeMtuRequest: { id: 0x55, name: 'BLE_GATTS_EVT_EXCHANGE_MTU_REQUEST' },
  gattsHvnTxComplete: { id: 0x57, name: 'BLE_GATTS_EVT_HVN_TX_COMPLETE' },
} as const satisfies Record<string, { readonly id: number; readonly name: string }>;

export type EventKind = keyof typeof EVENTS;
export const EVENT_KINDS = Object.keys(EVENTS) as EventKind[];

/** sd_ble_cfg_set ids. Connection configs (0x20..0x23) carry a conn_cfg_tag. */
export const CFG_ID = {
  commonVsUuid: 0x01,
  connGap: 0x20,
  connGattc: 0x21,
  connGatts: 0x22,
  connGatt: 0x23,
  gapRoleCount: 0x40,
} as const satisfies Record<string, number>;

export type ConfigKind = keyof typeof CFG_ID;

/** sd_rpc_conn_reset modes. */
export const RESET_MODE = { system: 0, soft: 1 } as const satisfies Record<string, number>;

/** nrf_error.h / ble_err.h results shared by v5 and v6; see versions.ts for 0x3004..0x3006. */
export const NRF_RESULT_NAMES: Readonly<Record<number, string>> = {
  0: 'NRF_SUCCESS',
  3: 'NRF_ERROR_INTERNAL',
  4: 'NRF_ERROR_NO_MEM',
  5: 'NRF_ERROR_NOT_FOUND',
  6: 'NRF_ERROR_NOT_SUPPORTED',
  7: 'NRF_ERROR_INVALID_PARAM',
  8: 'NRF_ERROR_INVALID_STATE',
  9: 'NRF_ERROR_INVALID_LENGTH',
  10: 'NRF_ERROR_INVALID_FLAGS',
  11: 'NRF_ERROR_INVALID_DATA',
  12: 'NRF_ERROR_DATA_SIZE',
  13: 'NRF_ERROR_TIMEOUT',
  14: 'NRF_ERROR_NULL',
  15: 'NRF_ERROR_FORBIDDEN',
  16: 'NRF_ERROR_INVALID_ADDR',
  17: 'NRF_ERROR_BUSY',
  18: 'NRF_ERROR_CONN_COUNT',
  19: 'NRF_ERROR_RESOURCES',
  0x3001: 'BLE_ERROR_NOT_ENABLED',
  0x3002: 'BLE_ERROR_INVALID_CONN_HANDLE',
  0x3003: 'BLE_ERROR_INVALID_ATTR_HANDLE',
  0x3200: 'BLE_ERROR_GAP_UUID_LIST_MISMATCH',
  0x3201: 'BLE_ERROR_GAP_DISCOVERABLE_WITH_WHITELIST',
  0x3202: 'BLE_ERROR_GAP_INVALID_BLE_ADDR',
  0x3203: 'BLE_ERROR_GAP_WHITELIST_IN_USE',
  0x3300: 'BLE_ERROR_GATTC_PROC_NOT_PERMITTED',
  0x3400: 'BLE_ERROR_GATTS_INVALID_ATTR_TYPE',
  0x3401: 'BLE_ERROR_GATTS_SYS_ATTR_MISSING',
};

export const NRF_SUCCESS = 0;
export const NRF_ERROR = {
  noMem: 4,
  notSupported: 6,
  invalidParam: 7,
  invalidState: 8,
  busy: 17,
  connCount: 18,
  resources: 19,
} as const satisfies Record<string, number>;

export const BLE_CONN_HANDLE_INVALID = 0xffff;
export const BLE_CONN_CFG_TAG_DEFAULT = 0;

export const GAP_ROLE = { periph: 1, central: 2 } as const satisfies Record<string, number>;
/** BLE_GAP_TIMEOUT_SRC_*. */
export const GAP_TIMEOUT_SRC = { scan: 1, conn: 2, authPayload: 3 } as const satisfies Record<string, number>;
export const GATT_WRITE_OP = { writeReq: 1, writeCmd: 2, signWriteCmd: 3, prepWriteReq: 4, execWriteReq: 5 } as const satisfies Record<
  string,
  number
>;
export const GATT_HVX = { notification: 1, indication: 2 } as const satisfies Record<string, number>;
/** GATT status in GATTC events: 0 success, 0x0100 + ATT error code otherwise. */
export const GATT_STATUS = { success: 0x0000, attErrBase: 0x0100, attributeNotFound: 0x010a } as const satisfies Record<string, number>;
