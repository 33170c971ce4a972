// chat_template.test.mjs — the chat templates written into our vocabulary GGUFs (tools/make_vocab.mjs:
// our own Gemma 4 template; the package's Gemma 3 template) rendered by a real Jinja engine
// (@huggingface/jinja, as used by node-llama-cpp) must give the spec gemma4.md §4.4 / §5 layouts
// byte for byte — the same strings tests/test_chat.c expects from the C renderer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Template } from '@huggingface/jinja';
import { buildVocab } from '../../tools/make_vocab.mjs';

const g4 = new Template(buildVocab('gemma4').template);
const g3 = new Template(buildVocab('gemma3').template);
const render = (t, messages, extra = {}) =>
  t.render({ messages, bos_token: '<bos>', add_generation_prompt: true, ...extra });

test('Gemma 4 template: one user turn', () => {
  assert.equal(render(g4, [{ role: 'user', content: 'Hi' }]),
    '<bos><|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>');
});

test('Gemma 4 template: system + user (spec example)', () => {
  assert.equal(render(g4, [{ role: 'system', content: '  You are helpful.\n' }, { role: 'user', content: 'Hi\n' }]),
    '<bos><|turn>system\nYou are helpful.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>');
});

test('Gemma 4 template: prior thought channels are stripped', () => {
  const msgs = [
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: '<|channel>thought\nSimple arithmetic.<channel|>It is 4.' },
    { role: 'user', content: 'And 3+3?' },
    { role: 'assistant', content: '<|channel>thought\n<channel|>6' },
    { role: 'user', content: 'Thanks' },
  ];
  assert.equal(render(g4, msgs),
    '<bos><|turn>user\nWhat is 2+2?<turn|>\n<|turn>model\nIt is 4.<turn|>\n' +
    '<|turn>user\nAnd 3+3?<turn|>\n<|turn>model\n6<turn|>\n' +
    '<|turn>user\nThanks<turn|>\n<|turn>model\n<|channel>thought\n<channel|>');
});

test('Gemma 4 template: thinking enabled', () => {
  assert.equal(render(g4, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Why?' }], { enable_thinking: true }),
    '<bos><|turn>system\n<|think|>Be brief.<turn|>\n<|turn>user\nWhy?<turn|>\n<|turn>model\n');
  assert.equal(render(g4, [{ role: 'user', content: 'Why?' }], { enable_thinking: true }),
    '<bos><|turn>system\n<|think|><turn|>\n<|turn>user\nWhy?<turn|>\n<|turn>model\n');
});

test('Gemma 3 template (package): system folded into the first user turn', () => {
  const msgs = [{ role: 'system', content: 'You are helpful.' }, { role: 'user', content: ' Hi ' },
    { role: 'assistant', content: 'Hello!' }, { role: 'user', content: 'Bye' }];
  assert.equal(render(g3, msgs),
    '<bos><start_of_turn>user\nYou are helpful.\n\nHi<end_of_turn>\n' +
    '<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n' +
    '<start_of_turn>model\n');
});
