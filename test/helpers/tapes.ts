// Honest tape ZIPs for the service tests. Restored by the unpack helper after overwriting this file
// by mistake; the builder lives in sample-tape.ts. makeTapeZip({ width, height, durationsMs, soundSeconds }).

export { makeTapeZip, solidPng, toneWav, type TapeSpec } from './sample-tape.ts';
