/** Link-layer limits on connection parameters, shared by L2CAP and LL parameter requests. */

export interface ConnectionParameterRequest {
  /** Units of 1.25 ms. */
  readonly intervalMin: number;
  readonly intervalMax: number;
  readonly latency: number;
  /** Units of 10 ms. */
  readonly timeout: number;
}

/**
 * The ranges Core Vol 6, Part B, 4.5.1/4.5.2 allow, plus the rule that the supervision timeout
 * must outlast the longest gap latency permits.
 */
export function isAcceptableConnectionParameters(p: ConnectionParameterRequest): boolean {
  if (p.intervalMin < 6 || p.intervalMax > 3200 || p.intervalMin > p.intervalMax) return false;
  if (p.latency > 499) return false;
  if (p.timeout < 10 || p.timeout > 3200) return false;
  const timeoutMs = p.timeout * 10;
  const worstGapMs = (1 + p.latency) * p.intervalMax * 1.25 * 2;
  return timeoutMs > worstGapMs;
}
