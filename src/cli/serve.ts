/**
 * `web-record serve`: the Action endpoint at `/` on a standalone server.
 */
import { parseArgs } from 'node:util';
import { createNodeServer } from '../http/node.js';
import type { WebRecordOptions } from '../http/middleware.js';
import { intOption, loadConfig, stderrLogger, UsageError } from './util.js';

export const serveUsage = `Usage: web-record serve [options]

Serves the Action endpoint: POST http://HOST:PORT/ with {"Action": ..., "Data": {...}}.

Options:
  --host HOST                 address to listen on (default 127.0.0.1)
  --port PORT                 port (default 8080; 0 picks a free one)
  --dir DIR                   where recordings are stored and served from under /files/ (default ./recordings)
  --public-url URL            public base URL for FileURL (default: from the request's Host)
  --redis URL                 share tasks through Redis (redis://host:port/db)
  --role all|api|worker       what this process does (default all; worker needs no port)
  --allow-private-networks    allow recording private and loopback addresses
  --warm-pool N               keep N browsers ready for 1280x720 tasks (default 0; the config
                              file's "warmPool" can set another size)
  --log-level LEVEL           debug|info|warn|error|silent: JSON log lines on stderr (default info;
                              env WEB_RECORD_LOG_LEVEL)
  --config FILE               JSON or JS module with recorder options (flags override it);
                              also "redis" (URL) and "redisPrefix" (key prefix, default webrecord)
  -h, --help                  this help

Examples:
  web-record serve --port 8080 --allow-private-networks
  curl -s localhost:8080/ -d '{"Action":"Start","Data":{"RecordURL":"https://example.com"}}'`;

export async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      dir: { type: 'string' },
      'public-url': { type: 'string' },
      redis: { type: 'string' },
      role: { type: 'string' },
      'allow-private-networks': { type: 'boolean', default: false },
      'warm-pool': { type: 'string' },
      config: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(serveUsage);
    return 0;
  }
  const port = intOption(values.port, 'port', 0, 65535)!;
  const config = (await loadConfig(values.config)) as WebRecordOptions;
  // --role, else the config file's role, else all.
  const role = (values.role ?? config.role ?? 'all') as 'all' | 'api' | 'worker';
  if (!['all', 'api', 'worker'].includes(role)) throw new UsageError(`--role must be one of all, api, worker, got "${role}"`);
  const level = values['log-level'] ?? process.env.WEB_RECORD_LOG_LEVEL ?? 'info';
  const options: WebRecordOptions = {
    ...(level !== 'silent' ? { logger: stderrLogger(level) } : {}),
    ...config,
    role,
    outputDir: values.dir ?? config.outputDir ?? './recordings',
    ...(values['public-url'] ? { publicUrl: values['public-url'] } : {}),
    ...(values['allow-private-networks'] ? { allowPrivateNetworks: true } : {}),
    ...(values['warm-pool'] !== undefined ? { warmPool: intOption(values['warm-pool'], 'warm-pool', 0, 64) } : {}),
  };
  const redisUrl = values.redis ?? (config as { redis?: string }).redis;
  if (redisUrl) Object.assign(options, await redisParts(redisUrl, (config as { redisPrefix?: string }).redisPrefix));
  const app = createNodeServer(options);
  const stop = async () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    console.error(
      redisUrl
        ? 'web-record: stopping; running recordings are handed to other workers'
        : 'web-record: stopping; running tasks deliver what they recorded',
    );
    await app.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (!options.authorize && !options.verify && !(options as { auth?: unknown }).auth) {
    console.error('web-record: warning: no authentication configured; anyone who can reach this port can start recordings');
  }
  if (role === 'worker') {
    await app.recorder.health();
    console.log(`web-record worker ${app.recorder.ctx.options.nodeId} ready`);
    return new Promise<number>(() => undefined);
  }
  const addr = await app.listen(port, values.host!);
  console.log(`web-record listening on http://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}/`);
  return new Promise<number>(() => undefined);
}

/** The Redis-backed parts for `--redis` (loaded only when asked for). */
async function redisParts(url: string, prefix?: string): Promise<Partial<WebRecordOptions>> {
  try {
    const mod = await import('../redis.js');
    return await mod.redisParts(url, prefix ? { prefix } : {});
  } catch (err) {
    throw new UsageError(`--redis: ${err instanceof Error ? err.message : String(err)}`);
  }
}
