/**
 * A small typed wrapper over `child_process.spawn` for ffmpeg and ffprobe (fluent-ffmpeg is
 * archived upstream).
 */
export { FfmpegCommand, ffmpegCommand, renderOptions } from './args.js';
export type { InputSpec, OptionPairs, OptionValue, Options, OutputSpec } from './args.js';
export { killPid, pidAlive, runCommand, spawnChild, terminate, trackPid, waitExit, whichSync } from './child.js';
export type { SpawnChildOptions } from './child.js';
export { ffmpegPath, ffprobePath } from './paths.js';
export { ffmpegFeatures, ffmpegVersion, ffprobe, mediaDuration, probeDuration, probeNumber, probePackets, streamOf } from './probe.js';
export type { ProbePacket, ProbeResult, ProbeStream } from './probe.js';
export { execFfmpeg, FfmpegError, FfmpegProcess, ProgressParser, runFfmpeg } from './process.js';
export type { FfmpegExit, FfmpegProgress, RunFfmpegOptions } from './process.js';
