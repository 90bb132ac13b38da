import t from 'tap';
import { flowSuite } from './flows.js';

flowSuite(t, 'embedded', { view: 'memory' });
