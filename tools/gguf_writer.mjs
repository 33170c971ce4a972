// gguf_writer.mjs — minimal GGUF v3 writer for metadata-only files (vocabularies, test fixtures).
// Writes key/value metadata and, optionally, zero tensors. Must not grow into a general tensor
// writer: model files are written by the C writer in src/gguf/.

import { writeFileSync } from 'node:fs';

export const T = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
};

const SCALAR_SIZE = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

function scalarBuf(type, v) {
  const b = Buffer.alloc(SCALAR_SIZE[type]);
  switch (type) {
    case T.UINT8: b.writeUInt8(v); break;
    case T.INT8: b.writeInt8(v); break;
    case T.UINT16: b.writeUInt16LE(v); break;
    case T.INT16: b.writeInt16LE(v); break;
    case T.UINT32: b.writeUInt32LE(v); break;
    case T.INT32: b.writeInt32LE(v); break;
    case T.FLOAT32: b.writeFloatLE(v); break;
    case T.BOOL: b.writeUInt8(v ? 1 : 0); break;
    case T.UINT64: b.writeBigUInt64LE(BigInt(v)); break;
    case T.INT64: b.writeBigInt64LE(BigInt(v)); break;
    case T.FLOAT64: b.writeDoubleLE(v); break;
    default: throw new Error(`bad scalar type ${type}`);
  }
  return b;
}

function u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; }
function u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; }
function str(s) {
  const bytes = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  return [u64(bytes.length), bytes];
}

// Typed-array fast paths keep 262144-entry arrays cheap.
function arrayChunks(elemType, values) {
  const out = [u32(elemType), u64(values.length)];
  if (elemType === T.STRING) {
    for (const s of values) { const [l, b] = str(s); out.push(l, b); }
  } else if (elemType === T.FLOAT32) {
    out.push(Buffer.from(Float32Array.from(values).buffer));
  } else if (elemType === T.INT32) {
    out.push(Buffer.from(Int32Array.from(values).buffer));
  } else {
    for (const v of values) out.push(scalarBuf(elemType, v));
  }
  return out;
}

export class GGUFWriter {
  constructor({ version = 3, alignment = 32 } = {}) {
    this.version = version;
    this.alignment = alignment;
    this.kv = new Map(); // key -> chunks (type + value)
  }
  set(key, type, value) {
    if (type === T.STRING) this.kv.set(key, [u32(T.STRING), ...str(value)]);
    else this.kv.set(key, [u32(type), scalarBuf(type, value)]);
    return this;
  }
  setArray(key, elemType, values) {
    // One Buffer per array: spreading 10^6 chunks would overflow the call stack.
    this.kv.set(key, [u32(T.ARRAY), Buffer.concat(arrayChunks(elemType, values))]);
    return this;
  }
  // Raw chunks for deliberately malformed fixtures (tests only).
  setRaw(key, chunks) { this.kv.set(key, chunks); return this; }
  toBuffer() {
    const chunks = [Buffer.from('GGUF', 'latin1'), u32(this.version), u64(0), u64(this.kv.size)];
    for (const [k, v] of this.kv) chunks.push(...str(k), ...v);
    let len = chunks.reduce((a, c) => a + c.length, 0);
    const pad = (this.alignment - (len % this.alignment)) % this.alignment;
    if (pad) chunks.push(Buffer.alloc(pad));
    return Buffer.concat(chunks);
  }
  write(path) { writeFileSync(path, this.toBuffer()); }
}

export const enc = { u32, u64, str };
