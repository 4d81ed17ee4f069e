/**
 * A byte pipe to a dongle (serial port, pty, in-memory pair to the simulator). Framing (H4, SLIP)
 * sits on top; this knows nothing about packets.
 */
export interface ByteDuplex {
  /**
   * Chunks as they arrive, in order, for one consumer. Ends normally on close(); fails with
   * TRANSPORT_CLOSED (cause attached) when the far end goes away.
   */
  readable(): AsyncIterable<Uint8Array>;
  /**
   * Resolves once the bytes are handed to the OS/peer (drained), so writers are flow-controlled.
   * On a line with a pace of its own (a UART), once no more than LINE_LEAD_MS of earlier bytes
   * wait to cross (linePace.ts): a writer is never far ahead of the wire.
   */
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** Aborts when the pipe is closed from either side; reason is a BledfuError. */
  readonly closed: AbortSignal;
}
