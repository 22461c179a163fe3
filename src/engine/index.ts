/** Public API of the sans-I/O engine. */
export { IkeEngine } from './engine.js';
export type * from './types.js';
export { parseIdentity, formatIdentity } from './identity.js';
export type { Identity } from './identity.js';
export { parseProposal, parseProposals, ProposalSyntaxError } from './proposal-string.js';
export type { ProposalSpec } from './proposal-string.js';
export { parseTrafficSelector, formatSelector } from './traffic-selectors.js';
export { describeTransform } from './describe.js';
export type { RestartPlan, InitiateEndpoints } from './restart.js';
export type { DataPlaneCommand, DataPlaneCommands, EspSaSpec, PolicySpec, ExpireKind } from './dataplane.js';
export { REQID_FIRST, REQID_LAST, DEFAULT_REPLAY_WINDOW } from './dataplane.js';
export { fixedPpkId, ppkIdText } from './ppk.js';
