/** Errors of the XFRM data plane that are ours, not the kernel's (those are NetlinkError). */

export type XfrmErrorCode =
  /** An algorithm the kernel plane does not map (or that the kernel lacks). */
  | 'UNSUPPORTED'
  /** A key of the wrong length for its algorithm. */
  | 'BAD_KEY'
  /** Traffic selectors that have no XFRM form (or need too many selectors). */
  | 'BAD_SELECTOR'
  /** A spec that is inconsistent (address families, reqid outside our range, ...). */
  | 'BAD_SPEC'
  /** The kernel holds a conflicting entry that another daemon owns: we leave it alone. */
  | 'NOT_OURS';

export class XfrmError extends Error {
  override readonly name = 'XfrmError';
  constructor(
    readonly code: XfrmErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}
