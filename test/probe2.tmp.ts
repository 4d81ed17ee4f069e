import { projectStationPackages } from '../server/station/packages.js';
import { planCampaign, DEFAULT_CAMPAIGN_FAULT_RATES } from '../server/station/campaignPlan.js';
import { describeFault } from '../server/station/faults.js';
import { Rng } from '../server/station/random.js';
import { demoKey } from './helpers/project-packages.js';
const packages = await projectStationPackages(demoKey());
const p = planCampaign(new Rng(Number(process.argv[2] ?? 1)).fork('campaign mode'), { devices: Number(process.argv[3] ?? 60), adapters: Number(process.argv[4] ?? 3), packages, windowMs: 600000, rackShare: 0.5, rates: DEFAULT_CAMPAIGN_FAULT_RATES });
for (const d of p.devices) { const f = p.faults.get(d.index); if (f) console.log(d.label, d.kind, describeFault(f)); }
