/**
 * Where ffmpeg and ffprobe are: an explicit option, else `WEB_RECORD_FFMPEG` /
 * `WEB_RECORD_FFPROBE`, else the names on `PATH`.
 */

/** ffmpeg executable: `override`, else `$WEB_RECORD_FFMPEG`, else `ffmpeg` from `PATH`. */
export function ffmpegPath(override?: string): string {
  return override || process.env.WEB_RECORD_FFMPEG || 'ffmpeg';
}

/** ffprobe executable: `override`, else `$WEB_RECORD_FFPROBE`, else `ffprobe` from `PATH`. */
export function ffprobePath(override?: string): string {
  return override || process.env.WEB_RECORD_FFPROBE || 'ffprobe';
}
