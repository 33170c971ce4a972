// server.mjs — a file server on loopback with fault injection, for the `gemrun pull` tests and the
// pull benchmark. Prints {"port":N} as its first stdout line. Routes:
//   GET|HEAD /f/{scenario}/{any}.gguf      the file (Range: bytes=N- honoured unless the scenario says no)
//   GET      /{owner}/{repo}/resolve/{rev}/{file}   Hugging Face style: 302 to http://localhost:PORT/f/{repo}/{file}
//            (another host than 127.0.0.1, so credentials must not follow) with X-Linked-Etag (the
//            sha256), X-Linked-Size and X-Repo-Commit; repo "gated" wants "Authorization: Bearer secret-token".
//   GET      /__stats   every finished response: {path, status, range, sent, auth, how}
// Scenarios (per server process; counters persist across a restart through --stats):
//   ok        ETag = "sha256"          plain   no ETag, no validator at all
//   fast      like ok, streamed with pipe() (benchmark)
//   drop      the first 4 responses are cut (socket destroyed) at random points
//   crash     the first response makes the whole server exit after ~40% (the test restarts it)
//   norange   Range ignored (always 200 + full body); the first response is cut at 45%
//   etagchange  file A (ETag "vA") until the first response is cut at 30%, then file B ("vB")
//   wrongsha  ETag is a sha256 that does not match the bytes
//   truncate  the first response ends cleanly (FIN) at 50% although Content-Length said more
//   short     the first response is a complete 200 whose Content-Length is 60% of the file
//   corrupt   the first response has one byte flipped (at a random offset past 1 MiB)
//   badmagic  the first byte is wrong (not a GGUF)
//   slow      ~120 MB/s (so two clients overlap)
//   huge      Content-Length says 10 TiB (disk space check)
// Usage: node server.mjs --file A [--file2 B] [--port N] [--stats FILE] [--seed N]
import http from 'node:http';
import { createHash } from 'node:crypto';
import { appendFileSync, createReadStream, readFileSync, existsSync, statSync } from 'node:fs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));

function sha256File(path) {
  const h = createHash('sha256');
  h.update(readFileSync(path));
  return h.digest('hex');
}

const files = { A: { path: args.file }, B: { path: args.file2 || args.file } };
for (const f of Object.values(files)) {
  f.size = statSync(f.path).size;
  f.sha = args.sha && f.path === args.file ? args.sha : sha256File(f.path);
}
const statsFile = args.stats;
let seed = Number(args.seed || 12345);
const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };

// How many responses each scenario has served, including earlier server processes (restart).
const served = new Map();
if (statsFile && existsSync(statsFile)) {
  for (const line of readFileSync(statsFile, 'utf8').split('\n').filter(Boolean)) {
    const r = JSON.parse(line);
    if (r.scenario) served.set(r.scenario, (served.get(r.scenario) || 0) + 1);
  }
}
const stats = [];
function record(entry) {
  stats.push(entry);
  if (statsFile) appendFileSync(statsFile, JSON.stringify(entry) + '\n');
}

function plan(scenario, n, file) {
  // What to do with response number n (0-based) of this scenario.
  const p = { etag: `"${file.sha}"`, honourRange: true, cutAt: -1, fin: false, flip: -1, clen: null, exitAt: -1, rate: 0 };
  if (scenario === 'plain') p.etag = null;
  if (scenario === 'drop' && n < 4) p.cutAt = -2; // placed once the range start is known
  if (scenario === 'crash' && n === 0) p.exitAt = Math.floor(file.size * 0.4);
  if (scenario === 'norange') { p.honourRange = false; if (n === 0) p.cutAt = Math.floor(file.size * 0.45); }
  if (scenario === 'wrongsha') p.etag = `"${file.sha.slice(0, 63)}${file.sha[63] === '0' ? '1' : '0'}"`;
  if (scenario === 'truncate' && n === 0) { p.cutAt = Math.floor(file.size * 0.5); p.fin = true; }
  if (scenario === 'short' && n === 0) p.clen = Math.floor(file.size * 0.6);
  if (scenario === 'corrupt' && n === 0) p.flip = (1 << 20) + Math.floor(rand() * (file.size - (1 << 20)));
  if (scenario === 'badmagic') p.flip = 0;
  if (scenario === 'slow') p.rate = 120e6;
  if (scenario === 'huge') p.clen = 10 * 2 ** 40; // claims 10 TiB, then sends the real file and stops
  return p;
}

function fileFor(scenario, n = served.get(scenario) || 0) {
  if (scenario !== 'etagchange') return { file: files.A, etag: null };
  const cut = n > 0; // after the first response
  return cut ? { file: files.B, etag: '"vB"' } : { file: files.A, etag: '"vA"' };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


// Wait for 'drain' or 'close', whichever comes first, and drop the other listener (a listener left
// behind per backed-up write piles up on a long response).
function drainOrClose(res) {
  return new Promise((resolve) => {
    const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
    res.once('drain', done);
    res.once('close', done);
  });
}

async function sendFile(req, res, scenario, url) {
  const n = served.get(scenario) || 0;
  served.set(scenario, n + 1);
  const { file, etag: forced } = fileFor(scenario, n);
  const p = plan(scenario, n, file);
  if (scenario === 'etagchange') { p.etag = forced; if (n === 0) p.cutAt = Math.floor(file.size * 0.3); }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range || '');
  let start = m && p.honourRange ? Number(m[1]) : 0;
  const ifRange = req.headers['if-range'];
  if (m && ifRange && p.etag && ifRange !== p.etag) start = 0; // validator changed: whole file
  if (p.cutAt === -2) p.cutAt = start + Math.floor(rand() * (file.size - start));
  const entry = { scenario, path: url.pathname, range: req.headers.range || null, status: 200, sent: 0,
                  auth: req.headers.authorization ? 'yes' : 'no', how: 'complete', n };
  if (start >= file.size && start > 0) {
    res.writeHead(416, { 'content-range': `bytes */${file.size}` });
    res.end();
    entry.status = 416;
    return record(entry);
  }
  const partial = start > 0 || (m && p.honourRange && !(ifRange && ifRange !== p.etag));
  const len = p.clen ?? file.size - start;
  const headers = { 'content-length': len, 'accept-ranges': p.honourRange ? 'bytes' : 'none' };
  if (p.etag) headers.etag = p.etag;
  if (partial && m) headers['content-range'] = `bytes ${start}-${file.size - 1}/${file.size}`;
  entry.status = partial && m ? 206 : 200;
  res.writeHead(entry.status, headers);
  if (req.method === 'HEAD') { res.end(); return record(entry); }
  if (scenario === 'fast') {
    const s = createReadStream(file.path, { start, highWaterMark: 1 << 20 });
    s.on('data', (c) => { entry.sent += c.length; });
    s.pipe(res);
    res.on('close', () => { if (!res.writableFinished) entry.how = 'client-closed'; record(entry); });
    return;
  }
  let off = start;
  const end = Math.min(start + len, file.size);
  const stream = createReadStream(file.path, { start, end: end - 1, highWaterMark: 1 << 20 });
  const t0 = performance.now();
  let closed = false;
  res.on('close', () => { closed = true; });
  for await (let chunk of stream) {
    if (closed) { entry.how = 'client-closed'; break; }
    if (p.flip >= off && p.flip < off + chunk.length) { chunk = Buffer.from(chunk); chunk[p.flip - off] ^= 0x5a; }
    const stopAt = [p.cutAt, p.exitAt].filter((x) => x >= off && x < off + chunk.length)[0];
    if (stopAt !== undefined) {
      const part = chunk.subarray(0, stopAt - off);
      entry.sent += part.length;
      if (p.exitAt >= 0) {
        entry.how = 'server-exit';
        record(entry);
        res.socket.write(part, () => process.exit(3));
        return;
      }
      entry.how = p.fin ? 'fin' : 'cut';
      res.socket.write(part, () => (p.fin ? res.socket.end() : res.socket.destroy()));
      return record(entry);
    }
    entry.sent += chunk.length;
    off += chunk.length;
    if (!res.write(chunk)) await drainOrClose(res);
    if (p.rate) { const due = (off - start) / p.rate * 1000 - (performance.now() - t0); if (due > 0) await sleep(due); }
  }
  stream.destroy();
  if (!closed) res.end();
  record(entry);
}

function hfRoute(req, res, url, port) {
  // /{owner}/{repo}/resolve/{rev}/{file...}
  const parts = url.pathname.split('/').slice(1);
  const [, repo, , rev] = parts;
  const file = parts.slice(4).join('/');
  if (repo === 'gated' && req.headers.authorization !== 'Bearer secret-token') {
    res.writeHead(401, { 'content-type': 'text/plain' });
    record({ path: url.pathname, status: 401, auth: req.headers.authorization ? 'yes' : 'no', sent: 0 });
    return res.end('Access to model test/gated is restricted.');
  }
  if (repo === 'missing') { res.writeHead(404); record({ path: url.pathname, status: 404, sent: 0 }); return res.end('no'); }
  const scenario = repo === 'gated' ? 'ok' : repo;
  const f = fileFor(scenario).file;
  res.writeHead(302, {
    location: `http://localhost:${port}/f/${scenario}/${file}`,
    'x-linked-etag': `"${f.sha}"`, 'x-linked-size': String(f.size),
    'x-repo-commit': rev === 'main' ? '0123456789abcdef0123456789abcdef01234567' : rev,
    etag: '"some-git-etag"', 'content-length': 0,
  });
  record({ path: url.pathname, status: 302, auth: req.headers.authorization ? 'yes' : 'no', sent: 0 });
  res.end();
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/__stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(stats));
  }
  if (url.pathname.startsWith('/f/')) return void sendFile(req, res, url.pathname.split('/')[2], url);
  if (url.pathname.includes('/resolve/')) return hfRoute(req, res, url, server.address().port);
  res.writeHead(404);
  res.end();
});
server.keepAliveTimeout = 1000;
server.listen(Number(args.port || 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port, sha: files.A.sha, size: files.A.size,
                                        shaB: files.B.sha, sizeB: files.B.size }) + '\n');
});
