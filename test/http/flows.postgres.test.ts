import t from 'tap';
import { flowSuite } from './flows.js';
import { TEST_REDIS_URL } from './harness.js';

flowSuite(t, 'postgres', { view: { redisUrl: TEST_REDIS_URL }, throttleRedisUrl: TEST_REDIS_URL });
