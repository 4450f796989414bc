/**
 * Real pages on a real HTTP server on 127.0.0.1 for recordings in tests.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MOTION = `<!doctype html><html><head><style>html,body{margin:0;overflow:hidden;background:#123}</style></head>
<body><canvas id=c></canvas><div id=size style="position:fixed;left:10px;top:10px;color:#fff;font:20px sans-serif"></div><script>
const c=document.getElementById('c');const g=c.getContext('2d');
function fit(){c.width=innerWidth;c.height=innerHeight;document.getElementById('size').textContent=innerWidth+'x'+innerHeight}
fit();addEventListener('resize',fit);
const beep=new URLSearchParams(location.search).has('beep');const ctx=new AudioContext();let last=-1;
function f(t){g.fillStyle='hsl('+((t/20)%360)+',70%,40%)';g.fillRect(0,0,c.width,c.height);
g.fillStyle='#fff';g.fillRect((t/5)%c.width,c.height/2-40,80,80);
const s=Math.floor(t/500);if(beep&&s!==last){last=s;if(ctx.state!=='running')ctx.resume();const o=ctx.createOscillator();const gn=ctx.createGain();gn.gain.value=0.5;o.frequency.value=880;o.connect(gn).connect(ctx.destination);o.start();o.stop(ctx.currentTime+0.12);}
requestAnimationFrame(f)}requestAnimationFrame(f);
</script></body></html>`;

/** Calls window.startRecord() after ?after=ms (or never without it). */
const MANUAL = `<!doctype html><html><body style="margin:0;background:#eee"><h1 id=h>waiting</h1><script>
const after=new URLSearchParams(location.search).get('after');
if(after!==null)setTimeout(()=>{document.getElementById('h').textContent='started';window.startRecord();},Number(after));
let n=0;setInterval(()=>{document.getElementById('h').style.marginLeft=(n++%100)+'px'},33);
</script></body></html>`;

export interface PageServer {
  /** Base URL, e.g. http://127.0.0.1:12345 */
  url: string;
  /** Requests seen, by path. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

let mediaFile: string | undefined;

/** A 6 s mp4 with a moving test picture and a 440 Hz tone, made by ffmpeg once per process. */
export function mediaMp4(): string {
  if (mediaFile) return mediaFile;
  const dir = mkdtempSync(join(tmpdir(), 'wr-media-'));
  mediaFile = join(dir, 'media.mp4');
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30:duration=6',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=6',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', '-movflags', '+faststart', mediaFile,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg could not make the test media: ${r.stderr}`);
  return mediaFile;
}

let flashFile: string | undefined;

/**
 * A 10 s 640x360 clip of the bench page's picture and sound (bench/synth.ts): a frame code
 * every frame, and from 1 s on a flash and a beep at the same instant each second. Made once per
 * process; served at /flash.mp4, and played full-page by /flash-video.
 */
export async function flashClip(): Promise<string> {
  if (flashFile) return flashFile;
  const { beepTrack, makeClip } = await import('../../bench/synth.js');
  const out = join(mkdtempSync(join(tmpdir(), 'wr-flash-')), 'flash.mp4');
  const fps = 30;
  await makeClip({
    out, width: 640, height: 360, fps, frames: 10 * fps,
    frame: (i) => ({ code: i, flash: i >= fps && i % fps < 3 }),
    audio: beepTrack(10, [1, 2, 3, 4, 5, 6, 7, 8, 9]),
  });
  return (flashFile = out);
}

const FLASH_VIDEO = `<!doctype html><html><body style="margin:0;background:#000;overflow:hidden">
<video src="/flash.mp4" autoplay style="position:fixed;left:0;top:0;width:640px;height:360px"></video></body></html>`;

/** Serves `data` as an mp4, with byte ranges as media players ask. */
function sendMp4(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, data: Buffer): void {
  res.setHeader('content-type', 'video/mp4');
  res.setHeader('accept-ranges', 'bytes');
  const m = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
  if (m) {
    const start = Number(m[1]);
    const end = m[2] ? Number(m[2]) : data.length - 1;
    res.statusCode = 206;
    res.setHeader('content-range', `bytes ${start}-${end}/${data.length}`);
    return void res.end(data.subarray(start, end + 1));
  }
  res.end(data);
}

/** White until its `load` event, then red; an image holds `load` back ?ms= milliseconds. */
const SLOW = (ms: number) => `<!doctype html><html><body style="margin:0;background:#fff"><img src="/slow-img?ms=${ms}" style="display:none">
<script>addEventListener('load',()=>document.body.style.background='#c00')</script></body></html>`;

/**
 * Serves: /motion (?beep), /manual (?after=ms), /slow (?ms=), /bench (bench/page: a beep a
 * second), /media.mp4, /flash-video and /flash.mp4 (once {@link flashClip} made it),
 * /notfound (404), /hang (never answers)
 */
export async function startPageServer(): Promise<PageServer> {
  const hits = new Map<string, number>();
  const hanging = new Set<import('node:http').ServerResponse>();
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    hits.set(u.pathname, (hits.get(u.pathname) ?? 0) + 1);
    const html = (body: string) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(body);
    };
    switch (u.pathname) {
      case '/motion':
        return html(MOTION);
      case '/manual':
        return html(MANUAL);
      case '/bench':
        return html(readFileSync(new URL('../../bench/page/index.html', import.meta.url), 'utf8'));
      case '/slow':
        return html(SLOW(Number(u.searchParams.get('ms') ?? 0)));
      case '/slow-img': {
        const timer = setTimeout(() => {
          hanging.delete(res);
          res.setHeader('content-type', 'image/gif');
          res.end(Buffer.from('R0lGODlhAQABAAAAACwAAAAAAQABAAA=', 'base64'));
        }, Number(u.searchParams.get('ms') ?? 0));
        hanging.add(res);
        res.once('close', () => clearTimeout(timer));
        return;
      }
      case '/media.mp4':
        return sendMp4(req, res, readFileSync(mediaMp4()));
      case '/flash-video':
        return html(FLASH_VIDEO);
      case '/flash.mp4':
        if (flashFile) return sendMp4(req, res, readFileSync(flashFile));
        res.statusCode = 404;
        return html('<h1>flashClip() has not made it</h1>');
      case '/hang':
        hanging.add(res);
        return;
      default:
        res.statusCode = 404;
        return html('<h1>not found</h1>');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
