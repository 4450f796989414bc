/**
 * Typed ffmpeg command lines: inputs, outputs and their options become an argument array for
 * `spawn` (never a shell string, so nothing is ever interpreted or needs quoting).
 */

/** An option value: `true` writes the bare flag, `false`/`undefined`/`null` leave the option out. */
export type OptionValue = string | number | boolean | undefined | null;

/**
 * Options as `{ 'c:v': 'libx264', preset: 'ultrafast' }` (a leading `-` is added) or, when order
 * or repetition matters (`-map` twice), as `[['map', '0:v'], ['map', '1:a']]`.
 */
export type Options = Record<string, OptionValue> | ReadonlyArray<readonly [string, OptionValue]>;

/** Options as ordered pairs (easy to concatenate). */
export type OptionPairs = Array<readonly [string, OptionValue]>;

/** One `-i` input: demuxer (`-f`), input options, then the URL. */
export interface InputSpec {
  url: string;
  /** Forces the demuxer (`-f`), e.g. `x11grab`, `pulse`, `concat`. */
  format?: string;
  /** Options placed before `-i` (they apply to this input only). */
  options?: Options;
}

/** One output: `-map`s, output options, muxer (`-f`), then the URL. */
export interface OutputSpec {
  url: string;
  /** Forces the muxer (`-f`), e.g. `segment`, `mp4`, `hls`. */
  format?: string;
  /** Stream selections (`-map`), in order. */
  maps?: readonly string[];
  /** Options placed before the URL (they apply to this output only). */
  options?: Options;
}

/** Renders options as `-key value` pairs. */
export function renderOptions(options: Options | undefined): string[] {
  if (!options) return [];
  const pairs = Array.isArray(options) ? options : Object.entries(options as Record<string, OptionValue>);
  const out: string[] = [];
  for (const [key, value] of pairs as Iterable<readonly [string, OptionValue]>) {
    if (value === undefined || value === null || value === false) continue;
    const flag = key.startsWith('-') ? key : `-${key}`;
    if (value === true) out.push(flag);
    else out.push(flag, String(value));
  }
  return out;
}

/**
 * Builds an ffmpeg argument list.
 *
 * @example
 * ffmpegCommand().global({ y: true }).input({ url: 'in.ts' })
 *   .output({ url: 'out.mp4', options: { c: 'copy', movflags: '+faststart' } }).build()
 */
export class FfmpegCommand {
  private readonly globals: string[] = [];
  private readonly inputs: string[] = [];
  private readonly outputs: string[] = [];

  /** Adds global options (placed first: `-y`, `-loglevel`, `-progress`, ...). */
  global(options: Options): this {
    this.globals.push(...renderOptions(options));
    return this;
  }

  /** Adds an input. */
  input(spec: InputSpec): this {
    this.inputs.push(...renderOptions(spec.options));
    if (spec.format) this.inputs.push('-f', spec.format);
    this.inputs.push('-i', spec.url);
    return this;
  }

  /** Adds an output. */
  output(spec: OutputSpec): this {
    for (const m of spec.maps ?? []) this.outputs.push('-map', m);
    this.outputs.push(...renderOptions(spec.options));
    if (spec.format) this.outputs.push('-f', spec.format);
    this.outputs.push(spec.url);
    return this;
  }

  /** The argument array (without the ffmpeg executable). */
  build(): string[] {
    return [...this.globals, ...this.inputs, ...this.outputs];
  }
}

/** Starts a new command line; quiet by default (`-hide_banner -nostats -loglevel error`). */
export function ffmpegCommand(options: { loglevel?: string } = {}): FfmpegCommand {
  return new FfmpegCommand().global({ hide_banner: true, nostats: true, loglevel: options.loglevel ?? 'error' });
}
