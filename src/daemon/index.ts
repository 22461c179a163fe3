/**
 * The building blocks of `pqike daemon`, for a program that runs its own gateway: the whole
 * {@link Daemon}, or its parts — the YAML configuration and secrets file ({@link loadConfig},
 * with every problem and its line in a {@link ConfigError}), the structured {@link Logger},
 * the Prometheus {@link Metrics}, the control socket ({@link serveControl}, and
 * {@link request} on the client side), the Wireshark key log ({@link KeyExporter}), the choice
 * of data plane ({@link choosePlane}) and the renderings of engine events used in logs and
 * listings.
 *
 * @module pqike/daemon
 */
export { Daemon, type DaemonOptions } from './daemon.js';
export {
  loadConfig, parseDuration, ConfigError, DEFAULT_SOCKET,
  type DaemonConfig, type DaemonConnection, type DaemonLimits, type DataPlaneChoice, type StartAction,
} from './config.js';
export { Logger, type LogLevel, type LogContext } from './logger.js';
export { Metrics, METRICS_LIMITS, type PlaneMetrics } from './metrics.js';
export {
  serveControl, request, DaemonNotRunning, MAX_CONTROL_CONNECTIONS, REQUEST_TIMEOUT_MS,
  type ControlRequest, type ControlResponse, type ControlServerOptions,
} from './control.js';
export { KeyExporter, KeyExportError, ikeDecryptionLine, espSaLines, type KeyExporterOptions } from './key-export.js';
export { choosePlane, type PlaneChoice, type PlaneChoiceOptions } from './plane-choice.js';
export { formatEvent, formatMessage, formatChild, eventToJson, exchangeName, notifyName } from './event-format.js';
export { toView, type SaView, type ChildView, type ChildUsage } from './listing.js';
export { RecordingDataPlane, type InstalledSa } from '../dataplane/fake-plane.js';
export type { DataPlane, PlaneKind, PlaneHost, PlaneSockets, SaUsage } from '../dataplane/plane-api.js';
