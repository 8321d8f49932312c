/** What a handler knows about the call it serves. */
import type { SimOptions } from './options.js';

export interface CallContext {
  /** Account the request belongs to (from its access key). */
  readonly accountId: string;
  readonly options: Readonly<SimOptions>;
  /** The simulator's today as a day index. */
  readonly todayIndex: number;
  /** The simulator's now in epoch seconds: today's date at the real UTC time of day. */
  readonly nowSeconds: number;
  /** A fresh revision number for estimated Cost Explorer values (moves on every call). */
  nextRevision(): number;
}
