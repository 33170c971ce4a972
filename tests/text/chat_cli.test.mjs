// chat_cli.test.mjs — `gemrun chat` as a person uses it: a real process with a real (synthetic)
// model and the real vocabulary; Ctrl-C (SIGINT) stops the current answer without leaving the
// program, the next question is answered, end of input quits with status 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { gemrunBin, synth, removeQuietly } from '../ref/lib/gemrun.mjs';

function waitFor(state, pred, ms, what) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const iv = setInterval(() => {
      if (pred()) { clearInterval(iv); resolve(Date.now() - t0); }
      else if (Date.now() - t0 > ms || state.exited) {
        clearInterval(iv);
        reject(new Error(`timed out waiting for ${what}; output so far: ${JSON.stringify(state.out.slice(-300))}`));
      }
    }, 5);
  });
}

const prompts = (s) => s.split('> ').length - 1;

test('Ctrl-C stops the answer, the session goes on, EOF quits', async () => {
  const model = synth({ preset: 'gemma4-e2b-tiny', type: 'q8_0', seed: 3 });
  try {
    // 4000 tokens would take many seconds: an answer that ends quickly was stopped by the signal.
    const p = spawn(gemrunBin(), ['chat', '-m', model, '-c', '4096', '-n', '4000', '-t', '1'],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    const st = { out: '', exited: false, code: null };
    p.stdout.on('data', (d) => { st.out += d.toString('utf8'); });
    p.stderr.on('data', (d) => { st.out += d.toString('utf8'); });
    const exited = new Promise((r) => p.on('exit', (code, sig) => { st.exited = true; st.code = code; r(sig); }));

    await waitFor(st, () => prompts(st.out) >= 1, 20000, 'the first prompt');
    p.stdin.write('Tell me a long story\n');
    const answerStart = st.out.length;
    await waitFor(st, () => st.out.length > answerStart + 40, 20000, 'the answer to stream');
    p.kill('SIGINT');
    const stopMs = await waitFor(st, () => prompts(st.out) >= 2, 5000, 'the prompt after Ctrl-C');
    assert.equal(st.exited, false, 'SIGINT must not end the program');
    assert.ok(stopMs < 2000, `answer stopped ${stopMs} ms after SIGINT`);
    const firstAnswer = st.out.slice(answerStart);

    p.stdin.write('Short one\n');
    const second = st.out.length;
    await waitFor(st, () => st.out.length > second + 10, 20000, 'the second answer');
    p.kill('SIGINT');
    await waitFor(st, () => prompts(st.out) >= 3, 5000, 'the prompt after the second Ctrl-C');
    p.stdin.end();
    await exited;
    assert.equal(st.code, 0, 'end of input quits with status 0');
    console.log(`stopped ${stopMs} ms after SIGINT; first answer ${firstAnswer.length} bytes`);
  } finally {
    removeQuietly(model);
  }
});
