// server.mjs — starts `gemrun serve` for tests: a tiny synthetic model (real Gemma vocabulary, random
// weights), a config file, --port 0, and waits for the ready line
// "gemrun serve: listening on http://HOST:PORT". Shared by every tests/serve/*.test.mjs (and the
// browser test). Test-side glue only: no assertions here.
//
//   import { tinyModel, startServer } from './lib/server.mjs';
//   const model = tinyModel();                       // path of a fresh gemma4-e2b-tiny GGUF
//   const srv = await startServer({ model });         // { url, port, proc, logs, stderr(), stop() }
//   await fetch(`${srv.url}/health`);
//   const { code } = await srv.stop();                // SIGTERM, waits for the exit
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gemrunBin, removeQuietly, synth, workDir } from '../../ref/lib/gemrun.mjs';

const READY = /gemrun serve: listening on (http:\/\/\S+)/;
const made = new Set();

process.on('exit', () => { for (const p of made) removeQuietly(p); });

// A tiny synthetic model written for this process (removed at exit). Same arguments -> same file.
export function tinyModel({ preset = 'gemma4-e2b-tiny', type = 'q8_0', seed = 1 } = {}) {
  const out = join(workDir(), `serve-${preset}-${type}-s${seed}-${process.pid}.gguf`);
  if (!made.has(out)) {
    synth({ preset, type, seed, out });
    made.add(out);
  }
  return out;
}

// The binary to run: GEMRUN_SERVE_BIN (e.g. an ASan build), else the usual gemrun binary.
export function serveBin() {
  return process.env.GEMRUN_SERVE_BIN || gemrunBin();
}

// Start a server. Options:
//   model      GGUF path for the local engine (written into config.local.model); null: no local model
//   config     extra configuration merged over the defaults (docs/server.md): features, cloud, local,
//              server sections. The default turns the runtime speed check off (a tiny model is
//              compute-bound, so the bandwidth-based expectation would call it degraded).
//   apiKey     --api-key
//   args       extra command-line arguments
//   env        extra environment variables
//   timeoutMs  how long to wait for the ready line (default 60 s)
//   waitReady  false: return right after spawning (the caller polls /health)
export async function startServer({ model = null, config = {}, apiKey, args = [], env = {},
  timeoutMs = 60000, waitReady = true, bin = serveBin() } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gemrun-serve-'));
  const cfg = {
    ...config,
    local: { ...(model ? { model } : {}), runtime_check: false, ...(config.local || {}) },
  };
  if (!model && !config.local?.model) delete cfg.local.model;
  const cfgPath = join(dir, 'config.json');
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const argv = ['serve', '--config', cfgPath, '--port', '0', ...args];
  if (apiKey) argv.push('--api-key', apiKey);
  const proc = spawn(bin, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const srv = makeHandle(proc, dir);
  if (waitReady) await srv.ready(timeoutMs);
  return srv;
}

function makeHandle(proc, dir) {
  let text = '';
  let partial = '';
  const logs = [];
  let readyUrl = null;
  const waiters = [];
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  proc.stdout.resume();
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    text += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop();
    for (const line of lines) {
      const m = READY.exec(line);
      if (m && !readyUrl) {
        readyUrl = m[1];
        for (const w of waiters.splice(0)) w();
      }
      if (line.startsWith('{')) {
        try { logs.push(JSON.parse(line)); } catch { /* not a log line */ }
      }
    }
  });
  const srv = {
    proc,
    logs, // parsed access-log lines (one JSON object per request)
    url: null,
    port: 0,
    stderr: () => text,
    async ready(timeoutMs = 60000) {
      if (!readyUrl) {
        await new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`gemrun serve not ready after ${timeoutMs} ms:\n${text}`)), timeoutMs);
          waiters.push(() => { clearTimeout(t); resolve(); });
          exited.then(({ code, signal }) => {
            clearTimeout(t);
            reject(new Error(`gemrun serve exited (${code ?? signal}) before ready:\n${text}`));
          });
        });
      }
      srv.url = readyUrl;
      srv.port = Number(new URL(readyUrl).port);
      return srv;
    },
    // SIGTERM (graceful stop), wait for the exit; SIGKILL after killMs. Returns { code, signal, stderr }.
    async stop({ signal = 'SIGTERM', killMs = 15000 } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), killMs);
      const r = await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
      return { ...r, stderr: text };
    },
  };
  return srv;
}

// Wait until the access log has `n` lines (requests are logged when they complete).
export async function waitLogs(srv, n, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  while (srv.logs.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return srv.logs.length >= n;
}

// Parse Prometheus text into { 'name{labels}': value }.
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

export async function getMetrics(url) {
  const r = await fetch(`${url}/metrics`);
  return parseMetrics(await r.text());
}

// The scripted cloud of tests/cloud/server.mjs (Gemini and OpenAI wire formats; the model name picks
// the behaviour, e.g. "mermaid", "ocr"): { url, requests() (API calls seen), reset(), stop() }.
export async function startMockCloud() {
  const here = new URL('../../cloud/server.mjs', import.meta.url).pathname;
  const proc = spawn(process.execPath, [here], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((res) => {
    let b = '';
    proc.stdout.on('data', (c) => { b += c; if (b.includes('\n')) res(Number(b.split(' ')[0])); });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    requests: async () => (await (await fetch(`${url}/__log`)).json()).requests.filter((r) => !r.url.startsWith('/__')),
    reset: () => fetch(`${url}/__reset`, { method: 'POST' }),
    stop: () => proc.kill(),
  };
}
