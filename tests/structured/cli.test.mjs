// cli.test.mjs — `gemrun run --schema FILE` / `--output KIND` end to end: a real process on a tiny
// random-weight model with the REAL Gemma 4 vocabulary (synth(), preset gemma4-e2b-tiny). A random
// model only produces valid JSON because the local engine constrains its decoding to the schema's
// grammar; the pipeline then validates it for real (validate/schema.h) and the test checks the printed
// answer against the schema again here. Kinds the local engine does not constrain (SVG, Mermaid) must
// fail with exit 3, the error on stderr and NOTHING on stdout: invalid output is never printed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gemrunBin, synth, removeQuietly } from '../ref/lib/gemrun.mjs';

const dir = mkdtempSync(join(tmpdir(), 'gemrun-structured-'));
const model = synth({ preset: 'gemma4-e2b-tiny', type: 'q8_0', seed: 7 });
after(() => { removeQuietly(model); rmSync(dir, { recursive: true, force: true }); });

const SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 12 },
    count: { type: 'integer', minimum: 0, maximum: 99 },
    color: { enum: ['red', 'green', 'blue'] },
    tags: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 },
    ok: { type: 'boolean' },
  },
  required: ['name', 'count', 'color', 'ok'],
  additionalProperties: false,
};

// The schema above, checked by hand (no validator library in node_modules): fails loudly on any
// deviation, so a pipeline that let invalid JSON through would be caught here too.
function checkAgainstSchema(v) {
  assert.equal(typeof v, 'object');
  assert.ok(v !== null && !Array.isArray(v), 'an object');
  for (const k of SCHEMA.required) assert.ok(k in v, `required key ${k}`);
  for (const k of Object.keys(v)) assert.ok(k in SCHEMA.properties, `no additional key ${k}`);
  assert.equal(typeof v.name, 'string');
  assert.ok([...v.name].length <= 12, 'name maxLength');
  assert.ok(Number.isInteger(v.count) && v.count >= 0 && v.count <= 99, `count in range: ${v.count}`);
  assert.ok(['red', 'green', 'blue'].includes(v.color), `color enum: ${v.color}`);
  assert.equal(typeof v.ok, 'boolean');
  if ('tags' in v) {
    assert.ok(Array.isArray(v.tags) && v.tags.length <= 3, 'tags maxItems');
    for (const t of v.tags) assert.ok(typeof t === 'string' && [...t].length <= 8, 'tag maxLength');
  }
}

function run(args) {
  const r = spawnSync(gemrunBin(), ['run', '-m', model, '-t', '1', '--temp', '0', ...args],
    { encoding: 'utf8', timeout: 120000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--schema FILE prints JSON that validates against the schema', () => {
  const schemaPath = join(dir, 'person.schema.json');
  writeFileSync(schemaPath, JSON.stringify(SCHEMA));
  for (const prompt of ['Describe a person as JSON.', 'Give me a record']) {
    const r = run(['-p', prompt, '-n', '400', '--schema', schemaPath]);
    assert.equal(r.code, 0, `exit 0 expected; stderr: ${r.err}`);
    const text = r.out.trim();
    assert.ok(!text.includes('\n') || text.startsWith('{'), 'stdout holds only the answer');
    checkAgainstSchema(JSON.parse(text));
    console.log(`${prompt} -> ${text}`);
  }
});

test('--schema with --json reports the attempts', () => {
  const schemaPath = join(dir, 'person2.schema.json');
  writeFileSync(schemaPath, JSON.stringify(SCHEMA));
  const r = run(['-p', 'JSON please', '-n', '400', '--schema', schemaPath, '--json']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  checkAgainstSchema(JSON.parse(j.text));
  assert.equal(j.engine, 'local');
  assert.equal(j.report.kind, 'json_schema');
  assert.equal(j.report.status, 'ok');
  assert.ok(j.report.attempts.length >= 1);
  assert.equal(j.report.attempts[j.report.used].valid, true);
});

test('--output json prints a JSON value', () => {
  const r = run(['-p', 'Any JSON', '-n', '300', '--output', 'json']);
  assert.equal(r.code, 0, `stderr: ${r.err}`);
  JSON.parse(r.out); // throws on anything that is not exactly one JSON value
});

test('unconstrained kinds: invalid output is never printed (exit 3, error on stderr)', () => {
  for (const kind of ['svg', 'mermaid']) {
    const r = run(['-p', `Draw a ${kind}`, '-n', '24', '--output', kind]);
    assert.equal(r.code, 3, `exit 3 expected for ${kind}; stderr: ${r.err}`);
    assert.equal(r.out, '', 'nothing on stdout');
    assert.match(r.err, new RegExp(`invalid output: invalid ${kind} output after 2 attempts; last error \\(local\\): line \\d+ col \\d+`));
  }
});

test('usage errors', () => {
  let r = run(['-p', 'x', '--schema', join(dir, 'missing.json')]);
  assert.equal(r.code, 1);
  assert.match(r.err, /--schema .*missing\.json/);
  r = run(['-p', 'x', '--output', 'yaml']);
  assert.equal(r.code, 1);
  assert.match(r.err, /'yaml' is not one of/);
  const bad = join(dir, 'bad.schema.json');
  writeFileSync(bad, '{"type":"object","if":{}}');
  r = run(['-p', 'x', '--schema', bad]);
  assert.equal(r.code, 1);
  assert.match(r.err, /output\.schema: .*if/);
  assert.equal(r.out, '');
});
