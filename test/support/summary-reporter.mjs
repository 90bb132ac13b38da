// A tap reporter that prints one line per test file, the details of every failure, and then
// the plain closing line `N passed, N failed, N skipped` that CI reads (tap prints none itself).
// Counts are leaf assertions; a skipped subtest counts once as skipped.
import { Transform } from 'node:stream';
import { Parser } from 'tap-parser';

export default class SummaryReporter extends Transform {
  constructor() {
    super();
    this.counts = { pass: 0, fail: 0, skip: 0 };
    this.failures = [];
    this.parser = new Parser();
    this.watch(this.parser, [], true);
    this.parser.on('complete', () => this.finish());
  }

  watch(parser, path, top) {
    let childSince = false;
    parser.on('child', (child) => {
      childSince = true;
      this.watch(child, [...path, child.name ?? ''], false);
    });
    parser.on('assert', (res) => {
      const isSubtest = childSince;
      childSince = false;
      const name = [...path, res.name].filter(Boolean).join(' > ');
      if (top) this.push(`${res.ok ? 'ok' : 'not ok'} ${res.name}${res.skip ? ` # SKIP ${res.skip === true ? '' : res.skip}` : ''}\n`);
      if (isSubtest && !res.skip) return;
      if (res.skip || res.todo) this.counts.skip++;
      else if (res.ok) this.counts.pass++;
      else {
        this.counts.fail++;
        this.failures.push({ name, diag: res.diag });
      }
    });
    parser.on('extra', (line) => { if (top) this.push(line); });
  }

  _transform(chunk, _enc, done) {
    this.parser.write(chunk);
    done();
  }

  _flush(done) {
    this.parser.end();
    done();
  }

  finish() {
    for (const f of this.failures) {
      this.push(`\nFAILED: ${f.name}\n`);
      if (f.diag) this.push(`${JSON.stringify(f.diag, null, 2).split('\n').slice(0, 40).join('\n')}\n`);
    }
    const { pass, fail, skip } = this.counts;
    this.push(`\n${pass} passed, ${fail} failed${skip ? `, ${skip} skipped` : ''}\n`);
  }
}
