import { mkdtempSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diskStorage } from '../../src/storage/disk.js';
import { testStorage } from '../../src/testing/storage-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'web-record-disk-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

testStorage('disk', () => diskStorage({ dir }));
testStorage('disk with publicUrl', () => diskStorage({ dir, publicUrl: 'https://rec.example.com/webrecord/' }), { largeBytes: false });

describe('diskStorage specifics', () => {
  it('left nothing behind after the conformance suites', async () => {
    expect(await readdir(dir)).toEqual([]);
  });

  it('validates its options, naming them', () => {
    expect(() => diskStorage({} as never)).toThrow(/option dir/);
    expect(() => diskStorage({ dir, publicUrl: 'ftp://x' })).toThrow(/publicUrl/);
    expect(() => diskStorage({ dir, publicUrl: 'not a url' })).toThrow(/publicUrl/);
  });

  it('builds URLs from publicUrl or relative to the mount', () => {
    expect(diskStorage({ dir }).url('t/a b.mp4')).toBe('/files/t/a%20b.mp4');
    expect(diskStorage({ dir, publicUrl: 'https://rec.example.com/webrecord/' }).url('t/ü.mp4')).toBe(
      'https://rec.example.com/webrecord/files/t/%C3%BC.mp4',
    );
    expect(diskStorage({ dir }).url('t/x.mp4', { domain: 'cdn.example.com/rec' })).toBe('https://cdn.example.com/rec/files/t/x.mp4');
  });

  it('refuses hidden, dot and empty segments everywhere, including localPath', () => {
    const storage = diskStorage({ dir });
    for (const key of ['a/../b', './a', 'a/.meta.json', 'a//b', 'a/', '.tmp', 'x'.repeat(201)]) {
      expect(() => storage.localPath!(key), key).toThrow(expect.objectContaining({ code: 'InvalidParam' }));
    }
  });

  it('copies (the source stays), writes a hidden sidecar and leaves no temp file', async () => {
    const root = await mkdtemp(join(tmpdir(), 'web-record-disk-copy-'));
    const storage = diskStorage({ dir: join(root, 'out') });
    const src = join(root, 'src.mp4');
    await writeFile(src, 'video');
    await storage.put('task/v.mp4', src, { contentType: 'video/mp4' });
    expect(await readFile(src, 'utf8')).toBe('video');
    expect((await readdir(join(root, 'out', 'task'))).sort()).toEqual(['.v.mp4.meta.json', 'v.mp4']);
    expect(storage.localPath!('task/v.mp4')).toBe(join(root, 'out', 'task', 'v.mp4'));
    await storage.delete('task/v.mp4');
    expect(await readdir(join(root, 'out'))).toEqual([]);
    await expect(storage.ping!()).resolves.toBeUndefined();
    await rm(root, { recursive: true, force: true });
  });

  it('never shows a partial file while overwriting', async () => {
    const root = await mkdtemp(join(tmpdir(), 'web-record-disk-atomic-'));
    const storage = diskStorage({ dir: root });
    const small = join(root, 'small.bin');
    const big = join(root, 'big.bin');
    await writeFile(small, Buffer.alloc(1000, 1));
    await writeFile(big, Buffer.alloc(16 * 1024 * 1024, 2));
    await storage.put('k/v.bin', small, { contentType: 'application/octet-stream' });
    const sizes = new Set<number>();
    let done = false;
    const put = storage.put('k/v.bin', big, { contentType: 'application/octet-stream' }).finally(() => (done = true));
    while (!done) {
      sizes.add((await stat(join(root, 'k', 'v.bin'))).size);
      await new Promise((r) => setImmediate(r));
    }
    await put;
    sizes.add((await stat(join(root, 'k', 'v.bin'))).size);
    expect([...sizes].every((s) => s === 1000 || s === 16 * 1024 * 1024)).toBe(true);
    expect(sizes.has(16 * 1024 * 1024)).toBe(true);
    await rm(root, { recursive: true, force: true });
  });
});
