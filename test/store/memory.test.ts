import { memoryStore } from '../../src/adapters/store/memory.js';
import { testTaskStore } from '../../src/testing/task-store-suite.js';

testTaskStore('memory', () => memoryStore());
