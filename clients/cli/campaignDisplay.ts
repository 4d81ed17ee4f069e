/**
 * Shows a campaign's events as they come: on a terminal the live table (campaignTable.ts) redrawn
 * in place, and once a second for its clock; otherwise one line per event; with --json one
 * record per event.
 */
import { CampaignState, NO_COUNTS, type Campaign, type CampaignCounts, type CampaignDevice, type CampaignWatchEvent } from '../ts/index.js';
import { campaignTitle, countsText, deviceEventLine, renderCampaignTable } from './campaignTable.js';
import { campaignCountsJson, campaignDeviceJson, campaignJson } from './records.js';
import type { Output } from './output.js';

/** The key of a device across events: where the campaign first saw it (CampaignDevice.address). */
function deviceKey(d: CampaignDevice): string {
  return (d.address?.value ?? '').toUpperCase();
}

export class CampaignDisplay {
  readonly #out: Output;
  #campaign: Campaign | undefined;
  #counts: CampaignCounts = NO_COUNTS;
  /** In the order found (a Map keeps insertion order). */
  readonly #devices = new Map<string, CampaignDevice>();
  /** The campaign's age on the server's clock at the latest event, and when (on ours) that event came. */
  #elapsedAtEvent = 0;
  #eventAt = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #now: () => number;

  /** `now`: this machine's clock, for the seconds between events. */
  constructor(out: Output, now: () => number = Date.now) {
    this.#out = out;
    this.#now = now;
  }

  get campaign(): Campaign | undefined {
    return this.#campaign;
  }

  get counts(): CampaignCounts {
    return this.#counts;
  }

  show(e: CampaignWatchEvent): void {
    this.#counts = e.counts;
    switch (e.type) {
      case 'snapshot':
        this.#setCampaign(e.campaign, e.time);
        this.#devices.clear();
        for (const d of e.campaign.devices) this.#devices.set(deviceKey(d), d);
        this.#out.record({ type: 'campaignSnapshot', campaignId: e.campaignId, time: e.time?.toISOString(), counts: campaignCountsJson(e.counts), campaign: campaignJson(e.campaign) });
        if (!this.#out.interactive) {
          this.#out.line(`${campaignTitle(e.campaign, this.#elapsed())}  ${countsText(e.counts)}`);
          for (const d of e.campaign.devices) this.#out.line(deviceEventLine(d, e.counts));
        }
        break;
      case 'device':
        this.#devices.set(deviceKey(e.device), e.device);
        this.#tick(e.time);
        this.#out.record({ type: 'campaignDevice', campaignId: e.campaignId, time: e.time?.toISOString(), counts: campaignCountsJson(e.counts), device: campaignDeviceJson(e.device) });
        // A terminal has the device's row in the table; a log gets a line per change.
        if (!this.#out.interactive) this.#out.line(deviceEventLine(e.device, e.counts));
        break;
      case 'stopping':
      case 'ended': {
        this.#setCampaign(e.campaign, e.time);
        // The campaign's own list is complete here when it has one; the events' otherwise.
        for (const d of e.campaign.devices) this.#devices.set(deviceKey(d), d);
        const type = e.type === 'stopping' ? 'campaignStopping' : 'campaignEnded';
        this.#out.record({ type, campaignId: e.campaignId, time: e.time?.toISOString(), counts: campaignCountsJson(e.counts), campaign: campaignJson(e.campaign) });
        // On a terminal the ended campaign's last table stays on screen (stop()).
        if (e.type === 'stopping' || !this.#out.interactive) this.#out.line(`${campaignTitle(e.campaign, this.#elapsed())}  ${countsText(e.counts)}`);
        break;
      }
    }
    if (e.type === 'ended') this.stop();
    else this.#draw();
  }

  /** Erases the live table; on a terminal the last table stays on screen as plain lines. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (!this.#out.interactive || this.#campaign === undefined) return;
    this.#out.live(undefined);
    for (const line of this.#table(undefined)) this.#out.line(line);
    this.#campaign = undefined;
  }

  #setCampaign(c: Campaign, time: Date | undefined): void {
    this.#campaign = c;
    this.#tick(time);
  }

  /** The campaign's age at an event: the server's clock (event time, or its end) minus its start. */
  #tick(time: Date | undefined): void {
    const c = this.#campaign;
    if (c?.createdAt === undefined) return;
    const at = c.state === CampaignState.CAMPAIGN_STATE_ENDED && c.endedAt !== undefined ? c.endedAt : time;
    if (at !== undefined) this.#elapsedAtEvent = Math.max(0, at.getTime() - c.createdAt.getTime());
    this.#eventAt = this.#now();
  }

  #elapsed(): number {
    const ended = this.#campaign?.state === CampaignState.CAMPAIGN_STATE_ENDED;
    return ended ? this.#elapsedAtEvent : this.#elapsedAtEvent + Math.max(0, this.#now() - this.#eventAt);
  }

  #table(rows: number | undefined): string[] {
    const campaign = this.#campaign;
    if (campaign === undefined) return [];
    return renderCampaignTable({ campaign, counts: this.#counts, devices: [...this.#devices.values()], elapsedMs: this.#elapsed() }, this.#out.columns, rows);
  }

  #draw(): void {
    if (!this.#out.interactive) return;
    this.#out.live(this.#table(this.#out.rows).join('\n'));
    if (this.#timer === undefined) {
      // The clock in the title moves while nothing happens, so a quiet line never looks hung.
      this.#timer = setInterval(() => this.#draw(), 1000);
      this.#timer.unref();
    }
  }
}
