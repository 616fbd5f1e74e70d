/**
 * The limits of selection rule max-under that the cost model knows before anything trains (latency is measured,
 * so only the select step can check it). The select step and successive halving share them: a candidate over a
 * limit can never be chosen, so halving does not spend a promotion on it.
 */
export interface CostLimits {
  maxMacs?: number;
  maxParams?: number;
}

export function withinCostLimits(c: { macs: number; params?: number }, limits: CostLimits | undefined): boolean {
  if (limits?.maxMacs !== undefined && c.macs > limits.maxMacs) return false;
  if (limits?.maxParams !== undefined && c.params !== undefined && c.params > limits.maxParams) return false;
  return true;
}
