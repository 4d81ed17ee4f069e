/**
 * bledfu's layering rule, checked on every `npm run lint`: a layer imports only the layers below
 * it (README "Architecture"). Each rule names the layer and what it must not reach.
 */
const layer = (name, path, mayNot, comment) => ({
  name,
  comment,
  severity: 'error',
  from: { path },
  to: { path: mayNot },
});

module.exports = {
  forbidden: [
    layer('common-is-the-bottom', '^server/common/', '^(server/(?!common/)|clients/)', 'common/ imports nothing else of bledfu'),
    layer('transport-only-common', '^server/transport/', '^(server/(?!(common|transport)/)|clients/)', 'transports know bytes, not protocols'),
    layer('ble-contract-only-common', '^server/ble/', '^(server/(?!(common|ble)/)|clients/)', 'the backend contract depends on nothing but common/'),
    layer('host-below-dfu', '^server/host/', '^(server/(dfu|jobs|rpc|backends|sim|config)/|clients/)', 'the host stack knows nothing above ble/'),
    layer('dfu-sees-only-ble', '^server/dfu/', '^(server/(host|backends|transport|sim|jobs|rpc|config)/|clients/)', 'DFU engines talk to ble/ interfaces only, so every backend runs them'),
    layer('jobs-below-rpc', '^server/jobs/', '^(server/(host|backends|transport|sim|rpc|config)/|clients/)', 'jobs run engines on ble/ adapters'),
    layer('campaigns-beside-jobs', '^server/campaigns/', '^(server/(host|backends|transport|sim|rpc|config|audit|metrics)/|clients/)', 'campaigns start ordinary jobs through the job manager and watch the air through ble/ adapters'),
    layer('jobs-never-see-campaigns', '^server/jobs/', '^server/campaigns/', 'a job knows its campaign only by id: the campaign layer sits on top of jobs'),
    layer('rpc-no-stack', '^server/rpc/', '^(server/(host|transport|sim)/|clients/)', 'the RPC layer reaches the stack only through jobs/ and the adapter directory'),
    layer(
      'metrics-observe-jobs-and-adapters',
      '^server/metrics/',
      '^(server/(host|backends|transport|sim|simnrf|simbridge|dfu|rpc|config|audit)/|clients/)',
      'metrics observe the job manager and the adapter directory through their listeners; the composition root wires them',
    ),
    {
      name: 'metrics-only-from-app',
      comment: 'only the composition root decides whether metrics exist; no layer reports to them directly',
      severity: 'error',
      from: { path: '^server/', pathNot: '^server/(metrics/|app\\.ts$)' },
      to: { path: '^server/metrics/' },
    },
    {
      name: 'prom-client-in-metrics-only',
      severity: 'error',
      from: { path: '^server/', pathNot: '^server/metrics/' },
      to: { path: 'node_modules/prom-client/' },
    },
    layer('config-only-common', '^server/config/', '^(server/(?!(common|config)/)|clients/)', 'configuration is read once and handed down'),
    {
      name: 'sim-uses-codecs-only',
      comment: 'the simulator reuses pure codecs, never stateful host or backend code',
      severity: 'error',
      from: { path: '^server/sim/' },
      to: {
        path: '^(server/(backends|jobs|rpc|config)/|server/host/(gap|gatt)/|server/host/att/bearer|server/host/hci/controller|server/dfu/(secure/(engine|link)|buttonless)|clients/)',
      },
    },
    layer(
      'simnrf-on-sim-and-codecs',
      '^server/simnrf/',
      '^(server/(backends/(?!nrf/(slip|crc16|h5|serialization/[^/]+)\\.ts$)|dfu|jobs|rpc|config)|clients/)',
      'the simulated connectivity dongle builds on sim/, host/ and the pure nrf codecs, never on the backend it is tested against',
    ),
    {
      name: 'simnrf-only-from-registry',
      comment: 'the simulated dongle is wiring for sim: adapters, reached only through the registry',
      severity: 'error',
      from: { path: '^server/', pathNot: '^server/(simnrf/|backends/(registry|simDongle)\\.ts$)' },
      to: { path: '^server/simnrf/' },
    },
    layer('simbridge-carries-sim-devices', '^server/simbridge/', '^(server/(backends|jobs|rpc|config|dfu)/|clients/)', 'the bridge puts simulated devices on controllers through the host stack; it knows no backend, job or RPC'),
    {
      name: 'simbridge-is-a-leaf',
      comment: 'simulated devices on real controllers are a test and bench tool; the server never depends on them',
      severity: 'error',
      from: { path: '^server/', pathNot: '^server/simbridge/' },
      to: { path: '^server/simbridge/' },
    },
    { name: 'server-never-imports-tests', severity: 'error', from: { path: '^server/' }, to: { path: '^test/' } },
    layer(
      'ts-client-only-generated-code-and-package-codec',
      '^clients/ts/',
      '^(server/(?!(common|dfu/package)/)|clients/cli/)',
      // The package codec is pure (bytes in, bytes out: no I/O, no server state), so a program or the
      // CLI makes and reads packages and keys with the very code the server checks them with, and
      // without a server. Anything else of the server stays behind gRPC.
      'the client depends on the generated code, and on the pure package codec (server/dfu/package/) with the one error type (server/common/)',
    ),
    layer(
      'package-codec-is-pure',
      '^server/dfu/package/',
      '^(server/(?!(common/|dfu/package/|dfu/errors\\.ts$))|clients/)',
      // Not even dfu/types.ts: the TypeScript client's npm package carries the codec, and the
      // engine's types would pull the logger (pino) into its declarations.
      'the package codec imports nothing of bledfu but common/ and the DFU error constructors, so clients can use it (rule above)',
    ),
    layer('cli-only-ts-client', '^clients/cli/', '^(server/|proto/gen/)', 'the CLI is a thin layer over clients/ts'),
    {
      name: 'serialport-in-transport-only',
      severity: 'error',
      from: { path: '^server/', pathNot: '^server/transport/serial' },
      to: { path: 'node_modules/(serialport|@serialport)/' },
    },
    {
      name: 'jszip-in-package-reader-only',
      severity: 'error',
      from: { path: '^server/', pathNot: '^server/dfu/package/' },
      to: { path: 'node_modules/jszip/' },
    },
    { name: 'no-cycles', severity: 'error', from: { path: '^(server|clients)/' }, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // The TypeScript client's npm package build (scripts/build-ts-client.mjs): compiled copies.
    exclude: { path: '^clients/ts/dist/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
