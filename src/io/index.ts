/**
 * Drivers that run an `IkeEngine` on real I/O: {@link UdpDriver} binds the UDP sockets
 * (500 and 4500 with the non-ESP marker, RFC 3948), feeds datagrams to the engine, sends what
 * it produces and arms one timer for its next deadline; {@link monotonicMs} is the clock they
 * give it.
 *
 * @module pqike/io
 */
export { UdpDriver, type UdpDriverOptions } from './udp-driver.js';
export { monotonicMs } from './clock.js';
