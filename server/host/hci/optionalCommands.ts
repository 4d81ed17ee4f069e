/**
 * Commands a controller may lack: sent only when both its LE feature bit (if it has one) and its
 * Supported_Commands bit say the controller has it. Some controllers advertise a command and then
 * never answer it (no Command Status, no Command Complete): the first such silence costs one
 * command timeout, after which the command is skipped on that controller for good, with one
 * warning that says what the skipping gives up. A link that works without the command is better
 * than every link failing with HCI_TIMEOUT.
 */
import { hasCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { HCI_COMMANDS, hasBit } from './commands.js';
import { HCI_STATUS } from './errors.js';
import { isCommandSupported, type AdvertisedCommandName } from './supportedCommands.js';

export interface OptionalCommand {
  readonly name: AdvertisedCommandName;
  /** LE feature bit (LE_FEATURE_BITS) the command depends on, if any. */
  readonly leFeature?: number;
  /** What doing without it means for the user, for the one warning when it is given up. */
  readonly withoutIt: string;
}

export interface ControllerCapabilities {
  readonly leFeatures: bigint;
  /**
   * The Supported_Commands bitmap; undefined when the controller would not say (then no optional
   * command is sent: a controller too old to answer Read Local Supported Commands lacks them anyway).
   */
  readonly supportedCommands: Uint8Array | undefined;
}

/** Why an optional command is not (or no longer) sent to this controller. */
export type SkipReason = 'not-advertised' | 'unanswered' | 'unknown-command';

export class OptionalCommands {
  readonly #log: Logger;
  #capabilities: ControllerCapabilities = { leFeatures: 0n, supportedCommands: undefined };
  readonly #givenUp = new Map<AdvertisedCommandName, SkipReason>();
  /** One sentence per command given up, for ListAdapters. */
  readonly #notes: string[] = [];
  // Until a command has been answered once, its sends go one at a time: parallel first sends to a
  // controller that ignores it would each cost a timeout before anyone learnt it is ignored.
  readonly #proven = new Set<AdvertisedCommandName>();
  readonly #probing = new Map<AdvertisedCommandName, Promise<unknown>>();

  constructor(logger: Logger) {
    this.#log = logger;
  }

  configure(capabilities: ControllerCapabilities): void {
    this.#capabilities = capabilities;
  }

  /** Whether `command` would be sent now (without running it). */
  usable(command: OptionalCommand): boolean {
    return this.#skipReason(command) === undefined;
  }

  /** What giving each command up means, one sentence each, in the order they were given up. */
  get workarounds(): readonly string[] {
    return this.#notes;
  }

  /** Commands given up on this controller after it ignored or did not know them. */
  get givenUp(): ReadonlyMap<AdvertisedCommandName, SkipReason> {
    return this.#givenUp;
  }

  /**
   * Runs `send` if the controller has the command; resolves true when it was answered with
   * success, false when it was skipped, refused or went unanswered. Other failures (the link or
   * the adapter going down, the caller's abort) reject as they came.
   */
  async run(command: OptionalCommand, send: () => Promise<unknown>): Promise<boolean> {
    const { name } = command;
    for (;;) {
      if (!this.usable(command)) return false;
      const probe = this.#proven.has(name) ? undefined : this.#probing.get(name);
      if (probe === undefined) break;
      await probe.catch(() => undefined);
    }
    const attempt = send();
    if (!this.#proven.has(name)) this.#probing.set(name, attempt);
    try {
      await attempt;
      this.#proven.add(name);
      return true;
    } catch (e) {
      if (hasCode(e, 'HCI_TIMEOUT')) {
        this.#giveUp(command, 'unanswered');
        return false;
      }
      if (hasCode(e, 'HCI_ERROR')) {
        if (e.facts.hciStatus === HCI_STATUS.unknownCommand) this.#giveUp(command, 'unknown-command');
        else this.#log.debug({ err: e }, `${HCI_COMMANDS[name].name} refused by the controller; skipped`);
        return false;
      }
      throw e;
    } finally {
      if (this.#probing.get(name) === attempt) this.#probing.delete(name);
    }
  }

  #skipReason(command: OptionalCommand): SkipReason | undefined {
    const givenUp = this.#givenUp.get(command.name);
    if (givenUp !== undefined) return givenUp;
    const { leFeatures, supportedCommands } = this.#capabilities;
    if (command.leFeature !== undefined && !hasBit(leFeatures, command.leFeature)) return 'not-advertised';
    if (supportedCommands === undefined || !isCommandSupported(supportedCommands, command.name)) return 'not-advertised';
    return undefined;
  }

  #giveUp(command: OptionalCommand, reason: Exclude<SkipReason, 'not-advertised'>): void {
    if (this.#givenUp.has(command.name)) return;
    this.#givenUp.set(command.name, reason);
    const spec = HCI_COMMANDS[command.name];
    const why = reason === 'unanswered' ? 'advertises it but never answered it' : 'answered Unknown HCI Command although it advertises it';
    this.#notes.push(`${spec.name}: the controller ${why}; no longer sent (${command.withoutIt})`);
    this.#log.warn(
      { command: spec.name, reason },
      `${spec.name}: the controller ${why}; no longer sending it to this dongle (${command.withoutIt})`,
    );
  }
}
