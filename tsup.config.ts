import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      express: 'src/http/express.ts',
      koa: 'src/http/koa.ts',
      testing: 'src/testing/index.ts',
      redis: 'src/redis.ts',
      'storage-cos': 'src/storage/cos.ts',
      'storage-s3': 'src/storage/s3.ts',
    },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: true,
    // `import.meta.url` in the CJS build (and `__dirname` in the ESM one).
    shims: true,
  },
  {
    entry: { cli: 'src/cli/index.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    clean: false,
  },
]);
