/**
 * Conformance suites for adapters (vitest): a third-party store or storage passes the same
 * checks as the bundled ones. `import { testStorage } from 'web-record/testing'`.
 */
export { testTaskStore } from './task-store-suite.js';
export { testStorage, type StorageSuiteOptions } from './storage-suite.js';
