// The web explorer's browser side: receipts checked with WebCrypto, sign-in with a key file, and
// signed actions. Plain ES module, no build step, no dependency: it ships inside the package.
//
// Trust: the only things taken from the page are the log's verifier key and origin (the <meta>
// tags) and the data to check. A receipt is "verified in your browser" only after the same checks
// as ledger/receipts.py verify_receipt passed here: the checkpoint's Ed25519 signature by the log
// key, its origin, the leaf hash recomputed from the entry bytes, the index the entry names, and
// the RFC 6962 inclusion proof up to the signed root.
//
// Private keys: a key file is read in the page (File.text), checked like ledger/keys.py does
// (type, seed length, public key and keyid derived from the seed), imported into WebCrypto as a
// non-extractable CryptoKey and kept in a module variable, so it lives only as long as the page.
// It is never stored (no sessionStorage, localStorage or IndexedDB) and never sent: only signed
// envelopes and the bearer token leave the page. Signing in therefore leaves no key behind: a
// signed action asks for the key file with a file input this script adds to the action form
// (once per page; later actions on the same page reuse the key). The session cookie set by
// /web/session lets pages show private data; it cannot sign anything.
//
// Needs a secure context (HTTPS, or http://localhost) for WebCrypto, and Ed25519 in WebCrypto
// (Chromium 137+, Firefox 129+, Safari 17+); without either it says so and claims nothing.

const STATEMENT_PAYLOAD_TYPE = "application/vnd.dataledger.statement+json";
const KEY_FILE_TYPE = "dataledger-ed25519-v1";
const HASH_SIZE = 32;
const ED25519_SIGNATURE_SIZE = 64;
const NOTE_KEY_ID_SIZE = 4;
const MAX_NOTE_SIGNATURES = 100;
const MAX_SIZE_DIGITS = 20;
const LOGIN_LIFETIME_MS = 8 * 3600 * 1000; // a working day; the server caps sessions at 24 h
// PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410) up to the 32-byte seed.
const PKCS8_ED25519_PREFIX = hexToBytes("302e020100300506032b657004220420");
// RFC 8032 section 7.1 TEST 1 public key: a known-good key to probe Ed25519 support with.
const PROBE_PUBLIC_KEY = hexToBytes(
  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
);

// --- messages, English and Chinese ---------------------------------------------------------------

const REASONS = {
  en: {
    "receipt-malformed": "the receipt is malformed",
    "index-mismatch": "the receipt is for a different entry than the page shows",
    "vkey-malformed": "the page's log key is malformed",
    "checkpoint-malformed": "the checkpoint is malformed",
    "checkpoint-signature": "the checkpoint is not signed by the log key",
    origin: "the checkpoint is for another log",
    "entry-malformed": "the entry is malformed",
    "leaf-hash": "the leaf hash does not match the entry",
    "entry-index": "the entry names a different index",
    "tree-size": "the proof is for a different tree size than the checkpoint",
    inclusion: "inclusion proof does not match the checkpoint",
    "no-ed25519": "this browser lacks Ed25519",
    "no-webcrypto": "WebCrypto is unavailable (the page is not served over HTTPS)",
  },
  zh: {
    "receipt-malformed": "收据格式有误",
    "index-mismatch": "收据与页面所示条目不符",
    "vkey-malformed": "页面上的日志公钥格式有误",
    "checkpoint-malformed": "检查点格式有误",
    "checkpoint-signature": "检查点未经日志密钥签名",
    origin: "检查点属于另一个日志",
    "entry-malformed": "条目格式有误",
    "leaf-hash": "叶哈希与条目内容不符",
    "entry-index": "条目记载的序号与收据不符",
    "tree-size": "证明所用的树大小与检查点不符",
    inclusion: "包含证明与检查点不符",
    "no-ed25519": "此浏览器不支持 Ed25519",
    "no-webcrypto": "WebCrypto 不可用（页面未通过 HTTPS 提供）",
  },
};

const TEXT = {
  en: {
    verifying: "verifying in your browser…",
    verified: "verified in your browser",
    notVerified: (reason) => `NOT verified: ${reason}`,
    cannotVerify: (reason) => `cannot verify: ${reason}`,
    cannotSign: (reason) => `cannot sign: ${reason}`,
    readingKey: "reading your key file (it stays in this page)…",
    signingIn: "signing the login statement in your browser…",
    signedIn: (party) => `signed in as ${party}`,
    chooseKey: "choose your key file first",
    keyLabel: "Your key file (it stays in this page)",
    signing: "signing in your browser and submitting…",
    recorded: (index, id) => `recorded as entry #${index}, verified in your browser (id ${id})`,
    recordedUnverified: (index, reason) => `recorded as entry #${index}, but NOT verified: ${reason}`,
    seeEntry: "see the entry",
    refused: (title, detail) => `refused: ${title}${detail ? ` — ${detail}` : ""}`,
    failed: (message) => `failed: ${message}`,
    badField: (name, what) => `${name} must be ${what}`,
    wholeNumber: "a whole number",
    amount: "an amount with at most two decimals",
  },
  zh: {
    verifying: "正在您的浏览器中验证……",
    verified: "已在您的浏览器中验证",
    notVerified: (reason) => `未通过验证：${reason}`,
    cannotVerify: (reason) => `无法验证：${reason}`,
    cannotSign: (reason) => `无法签名：${reason}`,
    readingKey: "正在读取您的密钥文件（密钥只留在本页面中）……",
    signingIn: "正在您的浏览器中签署登录声明……",
    signedIn: (party) => `已登录：${party}`,
    chooseKey: "请先选择您的密钥文件",
    keyLabel: "您的密钥文件（只留在本页面中）",
    signing: "正在您的浏览器中签名并提交……",
    recorded: (index, id) => `已记入条目 #${index}，已在您的浏览器中验证（编号 ${id}）`,
    recordedUnverified: (index, reason) => `已记入条目 #${index}，但未通过验证：${reason}`,
    seeEntry: "查看条目",
    refused: (title, detail) => `被拒绝：${title}${detail ? `——${detail}` : ""}`,
    failed: (message) => `失败：${message}`,
    badField: (name, what) => `${name} 必须是${what}`,
    wholeNumber: "整数",
    amount: "最多两位小数的金额",
  },
};

function pageLang() {
  const root = document.documentElement;
  const lang = root.dataset.lang || root.lang || "en";
  return lang.toLowerCase().startsWith("zh") ? "zh" : "en";
}

function text() {
  return TEXT[pageLang()];
}

/** The reason for a failed check, in the page's language. */
export function reasonText(code, lang = pageLang()) {
  return (REASONS[lang] || REASONS.en)[code] || code;
}

// --- errors ----------------------------------------------------------------------------------------

/** A check that did not pass; `code` selects the message, `detail` says more (English). */
export class CheckFailed extends Error {
  constructor(code, detail = "") {
    super(detail ? `${code}: ${detail}` : code);
    this.name = "CheckFailed";
    this.code = code;
    this.detail = detail;
  }
}

/** Something the user gave (a key file, a field) is wrong: shown as it is. */
export class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = "InputError";
  }
}

// --- bytes -------------------------------------------------------------------------------------------

const UTF8 = new TextEncoder();
const UTF8_STRICT = new TextDecoder("utf-8", { fatal: true });

export function utf8(s) {
  return UTF8.encode(s);
}

export function hexToBytes(hex) {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new Error("not hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function b64encode(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

const B64_STRICT = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 with padding, canonical (as ledger/encoding.py b64decode): else null. */
export function b64decode(s) {
  if (typeof s !== "string" || !B64_STRICT.test(s)) return null;
  const binary = atob(s);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  // Non-zero padding bits would give two spellings of the same bytes: refuse them.
  return b64encode(out) === s ? out : null;
}

function b64decodeOr(s, code, what) {
  const out = b64decode(s);
  if (out === null) throw new CheckFailed(code, `${what} is not canonical standard base64`);
  return out;
}

function b64urlDecode(s) {
  const std = s.replace(/-/g, "+").replace(/_/g, "/");
  return b64decode(std + "=".repeat((4 - (std.length % 4)) % 4));
}

// --- WebCrypto ---------------------------------------------------------------------------------------

function subtle() {
  if (!globalThis.crypto || !globalThis.crypto.subtle) throw new CheckFailed("no-webcrypto");
  return globalThis.crypto.subtle;
}

export async function sha256(bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

let ed25519Probe = null;

/** Whether this browser's WebCrypto does Ed25519 (probed once with a known-good key). */
export function ed25519Supported() {
  ed25519Probe ??= (async () => {
    try {
      await subtle().importKey("raw", PROBE_PUBLIC_KEY, { name: "Ed25519" }, false, ["verify"]);
      return true;
    } catch {
      return false;
    }
  })();
  return ed25519Probe;
}

async function requireEd25519() {
  subtle();
  if (!(await ed25519Supported())) throw new CheckFailed("no-ed25519");
}

async function importVerifyKey(publicKey, code) {
  await requireEd25519();
  try {
    return await subtle().importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (err) {
    throw new CheckFailed(code, `not an Ed25519 public key (${err.name})`);
  }
}

async function ed25519Verify(key, signature, message) {
  try {
    return await subtle().verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false;
  }
}

// --- RFC 6962 Merkle tree (ledger/merkle.py) --------------------------------------------------------

export function leafHash(entry) {
  return sha256(concat(new Uint8Array([0]), entry));
}

export function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

function toBigInt(n) {
  if (typeof n === "bigint") return n;
  if (!Number.isSafeInteger(n)) throw new CheckFailed("inclusion", `${n} is not an integer`);
  return BigInt(n);
}

/** The root an inclusion proof implies (RFC 9162 section 2.1.3.2); throws CheckFailed. */
export async function rootFromInclusionProof(index, size, leaf, proof) {
  // BigInt: tree sizes are uint64 and JavaScript's bit operators are 32-bit.
  const idx = toBigInt(index);
  const n = toBigInt(size);
  if (idx < 0n || idx >= n) {
    throw new CheckFailed("inclusion", `leaf index ${idx} is not in a tree of size ${n}`);
  }
  if (leaf.length !== HASH_SIZE) throw new CheckFailed("inclusion", "leaf hash is not 32 bytes");
  proof.forEach((p, i) => {
    if (p.length !== HASH_SIZE) {
      throw new CheckFailed("inclusion", `proof element ${i} is not ${HASH_SIZE} bytes`);
    }
  });
  let fn = idx;
  let sn = n - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new CheckFailed("inclusion", "proof is too long");
    if (fn & 1n || fn === sn) {
      r = await nodeHash(p, r);
      // No right sibling at this level: climb until the node is a left child again.
      while (!(fn & 1n) && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new CheckFailed("inclusion", "proof is too short");
  return r;
}

/** Check that `leaf` is leaf `index` of the tree of `size` with `root`; throws CheckFailed. */
export async function verifyInclusion(index, size, leaf, proof, root) {
  const computed = await rootFromInclusionProof(index, size, leaf, proof);
  if (!equalBytes(computed, root)) {
    throw new CheckFailed("inclusion", `proof for leaf ${index} of ${size} leads to another root`);
  }
}

// --- C2SP signed notes and checkpoints (ledger/note.py, ledger/checkpoint.py) -----------------------

const EM_DASH = "\u2014";

function isClean(s) {
  // UTF-8 encodable (no lone surrogates) and no control character other than newline.
  if (typeof s.isWellFormed === "function" && !s.isWellFormed()) return false;
  if (/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""))) return false;
  return !/[\u0000-\u0009\u000b-\u001f]/.test(s);
}

function isValidKeyName(name) {
  return name.length > 0 && isClean(name) && !/[+\s]/.test(name);
}

/** Split at the first `count - 1` separators only (base64 may hold the separator). */
function splitN(s, sep, count) {
  const parts = [];
  let rest = s;
  while (parts.length < count - 1) {
    const at = rest.indexOf(sep);
    if (at < 0) break;
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + sep.length);
  }
  parts.push(rest);
  return parts;
}

/** The 4-byte note key id: SHA-256(name || 0x0A || 0x01 || public key)[:4]. */
export async function noteKeyId(name, publicKey) {
  return (await sha256(concat(utf8(name), new Uint8Array([0x0a, 0x01]), publicKey))).slice(0, 4);
}

/** Parse a verifier key `<name>+<hex key id>+<base64(0x01 || public key)>`; check its key id. */
export async function parseVkey(vkey) {
  const fail = (detail) => new CheckFailed("vkey-malformed", detail);
  if (typeof vkey !== "string") throw fail("no log key on the page");
  const parts = splitN(vkey.trim(), "+", 3);
  if (parts.length !== 3) throw fail("verifier key must be <name>+<key id>+<key>");
  const [name, keyIdHex, keyB64] = parts;
  if (!isValidKeyName(name)) throw fail(`invalid key name ${JSON.stringify(name)}`);
  if (!/^[0-9a-fA-F]{8}$/.test(keyIdHex)) throw fail("key id is not 8 hex digits");
  const raw = b64decode(keyB64);
  if (raw === null || raw.length !== 33 || raw[0] !== 0x01) {
    throw fail("verifier key is not an Ed25519 key (0x01 followed by 32 bytes)");
  }
  const publicKey = raw.slice(1);
  const keyId = hexToBytes(keyIdHex);
  if (!equalBytes(keyId, await noteKeyId(name, publicKey))) {
    throw fail("key id does not match name and public key");
  }
  return { name, keyId, publicKey, cryptoKey: await importVerifyKey(publicKey, "vkey-malformed") };
}

function parseSignatureLine(line) {
  const fail = (detail) => new CheckFailed("checkpoint-malformed", detail);
  if (!line.startsWith(`${EM_DASH} `)) throw fail("signature line does not start with an em dash");
  const rest = line.slice(2);
  const space = rest.indexOf(" ");
  const name = space < 0 ? rest : rest.slice(0, space);
  if (space < 0 || !isValidKeyName(name)) throw fail("signature line has no valid key name");
  const raw = b64decode(rest.slice(space + 1));
  if (raw === null) throw fail(`signature by ${name} is not standard base64`);
  if (raw.length <= NOTE_KEY_ID_SIZE) throw fail(`signature by ${name} is too short`);
  return {
    name,
    keyId: raw.slice(0, NOTE_KEY_ID_SIZE),
    signature: raw.slice(NOTE_KEY_ID_SIZE),
  };
}

/** Parse a signed note strictly, without checking signatures: {text, signatures}. */
export function parseNote(note) {
  const fail = (detail) => new CheckFailed("checkpoint-malformed", detail);
  if (typeof note !== "string" || !isClean(note)) {
    throw fail("note is not UTF-8 or holds control characters");
  }
  // The text runs to the last blank line (it may hold blank lines of its own).
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw fail("note has no blank line between text and signatures");
  const body = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block) throw fail("note has no signature lines");
  if (!block.endsWith("\n")) throw fail("last signature line does not end in a newline");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_NOTE_SIGNATURES) throw fail("note has too many signatures");
  return { text: body, signatures: lines.map(parseSignatureLine) };
}

/**
 * Verify a signed note against verifiers (from parseVkey): as Go's sumdb/note Open, signatures by
 * unknown keys are ignored, one by a known key that fails is an error, and at least one known
 * key must have signed.
 */
export async function verifyNote(note, verifiers) {
  const parsed = parseNote(note);
  const message = utf8(parsed.text);
  const verified = new Set();
  for (const sig of parsed.signatures) {
    const verifier = verifiers.find(
      (v) => v.name === sig.name && equalBytes(v.keyId, sig.keyId),
    );
    if (!verifier) continue;
    const ident = `${sig.name}+${bytesToHex(sig.keyId)}`;
    if (verified.has(ident)) throw new CheckFailed("checkpoint-signature", `${ident} signed twice`);
    if (sig.signature.length !== ED25519_SIGNATURE_SIZE) {
      throw new CheckFailed("checkpoint-signature", `signature by ${ident} is not 64 bytes`);
    }
    if (!(await ed25519Verify(verifier.cryptoKey, sig.signature, message))) {
      throw new CheckFailed("checkpoint-signature", `signature by ${ident} does not verify`);
    }
    verified.add(ident);
  }
  if (verified.size === 0) throw new CheckFailed("checkpoint-signature", "no trusted signature");
  return parsed;
}

/** Parse a checkpoint body: {origin, size (BigInt), rootHash, extensions}. */
export function parseCheckpointBody(body) {
  const fail = (detail) => new CheckFailed("checkpoint-malformed", detail);
  if (!body.endsWith("\n")) throw fail("checkpoint body must end in a newline");
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3) throw fail("checkpoint needs origin, size and root hash lines");
  const [origin, size, root, ...extensions] = lines;
  if (!origin) throw fail("origin must be one non-empty line");
  const canonical =
    size.length > 0 &&
    size.length <= MAX_SIZE_DIGITS &&
    /^[0-9]+$/.test(size) &&
    (size === "0" || !size.startsWith("0"));
  if (!canonical) throw fail(`tree size ${JSON.stringify(size)} is not a canonical number`);
  const rootHash = b64decode(root);
  if (rootHash === null || rootHash.length !== HASH_SIZE) {
    throw fail("root hash is not 32 bytes of standard base64");
  }
  if (extensions.some((line) => !line)) throw fail("empty extension line");
  return { origin, size: BigInt(size), rootHash, extensions };
}

/** Verify the log's signature on a checkpoint note, parse it, and check its origin. */
export async function openCheckpoint(note, verifier, origin = null) {
  const signed = await verifyNote(note, [verifier]);
  const checkpoint = parseCheckpointBody(signed.text);
  if (origin !== null && origin !== undefined && checkpoint.origin !== origin) {
    throw new CheckFailed("origin", `checkpoint is for ${checkpoint.origin}, not ${origin}`);
  }
  return checkpoint;
}

// --- ledger entries and receipts (ledger/entries.py, ledger/receipts.py) -----------------------------

function isPlainObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function hasExactly(obj, required, optional = []) {
  const keys = Object.keys(obj);
  return (
    required.every((k) => Object.hasOwn(obj, k)) &&
    keys.every((k) => required.includes(k) || optional.includes(k))
  );
}

/** Parse stored entry bytes as ledger/entries.py decode_entry does. */
export function decodeEntry(bytes) {
  const fail = (detail) => new CheckFailed("entry-malformed", detail);
  let entry;
  try {
    entry = JSON.parse(UTF8_STRICT.decode(bytes));
  } catch {
    throw fail("entry is not UTF-8 JSON");
  }
  if (!isPlainObject(entry) || !hasExactly(entry, ["envelope", "index", "integrated_at", "v"])) {
    throw fail("entry does not have the fields of a ledger entry");
  }
  if (entry.v !== 1) throw fail(`unsupported entry version ${entry.v}`);
  if (!Number.isSafeInteger(entry.index)) throw fail("entry index is not an integer");
  if (typeof entry.integrated_at !== "string") throw fail("integrated_at is not a string");
  const env = entry.envelope;
  const envelopeOk =
    isPlainObject(env) &&
    hasExactly(env, ["payload", "payloadType", "signatures"]) &&
    typeof env.payload === "string" &&
    typeof env.payloadType === "string" &&
    Array.isArray(env.signatures) &&
    env.signatures.every(
      (s) =>
        isPlainObject(s) &&
        hasExactly(s, ["sig"], ["keyid"]) &&
        typeof s.sig === "string" &&
        (s.keyid === undefined || typeof s.keyid === "string"),
    );
  if (!envelopeOk) throw fail("entry envelope is not a DSSE envelope");
  return entry;
}

function checkReceiptShape(receipt) {
  const proof = receipt?.inclusion_proof;
  const ok =
    isPlainObject(receipt) &&
    hasExactly(receipt, ["index", "entry", "leaf_hash", "inclusion_proof", "checkpoint"]) &&
    Number.isSafeInteger(receipt.index) &&
    receipt.index >= 0 &&
    typeof receipt.entry === "string" &&
    typeof receipt.leaf_hash === "string" &&
    typeof receipt.checkpoint === "string" &&
    isPlainObject(proof) &&
    hasExactly(proof, ["tree_size", "hashes"]) &&
    Number.isSafeInteger(proof.tree_size) &&
    Array.isArray(proof.hashes) &&
    proof.hashes.every((h) => typeof h === "string");
  if (!ok) throw new CheckFailed("receipt-malformed", "not a receipt");
}

/** A verifier for one page: the log key parsed once, checkpoints checked once each. */
export function makeReceiptVerifier(vkey, origin) {
  const verifier = parseVkey(vkey);
  verifier.catch(() => {}); // reported by each verify() call
  const checkpoints = new Map();
  const checkpointOf = (note) => {
    if (!checkpoints.has(note)) {
      checkpoints.set(note, verifier.then((v) => openCheckpoint(note, v, origin || null)));
    }
    return checkpoints.get(note);
  };
  return {
    /** Check a receipt end to end; resolve to {entry, checkpoint}, or throw CheckFailed. */
    async verify(receipt) {
      checkReceiptShape(receipt);
      const checkpoint = await checkpointOf(receipt.checkpoint);
      const entryBytes = b64decodeOr(receipt.entry, "receipt-malformed", "entry");
      const computed = await leafHash(entryBytes);
      const claimed = b64decodeOr(receipt.leaf_hash, "receipt-malformed", "leaf_hash");
      if (!equalBytes(computed, claimed)) {
        throw new CheckFailed("leaf-hash", `receipt ${receipt.index}: leaf_hash does not match`);
      }
      const entry = decodeEntry(entryBytes);
      if (entry.index !== receipt.index) {
        throw new CheckFailed("entry-index", `receipt ${receipt.index}, entry ${entry.index}`);
      }
      if (BigInt(receipt.inclusion_proof.tree_size) !== checkpoint.size) {
        throw new CheckFailed("tree-size", "inclusion proof is for another tree size");
      }
      const hashes = receipt.inclusion_proof.hashes.map((h) =>
        b64decodeOr(h, "receipt-malformed", "proof hash"),
      );
      await verifyInclusion(receipt.index, checkpoint.size, computed, hashes, checkpoint.rootHash);
      return { entry, checkpoint };
    },
  };
}

/** One-off check of a receipt against a verifier key (and origin, when given). */
export function verifyReceipt(receipt, vkey, origin = null) {
  return makeReceiptVerifier(vkey, origin).verify(receipt);
}

// --- DSSE, statements, keys (ledger/dsse.py, api/client.py, ledger/keys.py) ---------------------

/** DSSE v1 Pre-Authentication Encoding; lengths are byte lengths. */
export function pae(payloadType, payload) {
  const type = utf8(payloadType);
  return concat(
    utf8(`DSSEv1 ${type.length} `),
    type,
    utf8(` ${payload.length} `),
    payload,
  );
}

function canonicalize(value) {
  if (Array.isArray(value)) return value.map(canonicalize);
  if (isPlainObject(value)) {
    const out = {};
    for (const key of Object.keys(value).sort()) {
      if (value[key] !== undefined) out[key] = canonicalize(value[key]);
    }
    return out;
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    // The ledger signs no floats (statements' money and counts are integers).
    throw new InputError(`${value} is not a whole number`);
  }
  return value;
}

/** Compact JSON with sorted keys, as the SDK's canonical_json (msgspec, order="sorted"). */
export function canonicalJson(value) {
  return JSON.stringify(canonicalize(value));
}

/** An RFC 3339 UTC timestamp with microseconds, as ledger/encoding.py formats them. */
export function rfc3339(date) {
  return `${date.toISOString().slice(0, -1)}000Z`;
}

function randomHex(bytes) {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** A statement of `kind` issued now, with a fresh 16-byte nonce (api/client.py new_statement). */
export function newStatement(kind, fields = {}) {
  return { kind, issued_at: rfc3339(new Date()), nonce: randomHex(16), ...fields };
}

/** The id a statement gives what it creates: 32 hex digits of SHA-256 over the payload bytes. */
export async function statementId(payload) {
  return bytesToHex(await sha256(payload)).slice(0, 32);
}

/**
 * Read a `dataledger keygen` key file (ledger/keys.py): check its type, that the public key and
 * keyid match the seed, and import the seed as a non-extractable Ed25519 signing key.
 */
export async function importKeyFile(fileText) {
  let body;
  try {
    body = JSON.parse(fileText);
  } catch {
    throw new InputError("not a dataledger key file: not JSON");
  }
  const fields = ["type", "keyid", "public_key", "private_key"];
  if (
    !isPlainObject(body) ||
    !hasExactly(body, fields) ||
    fields.some((f) => typeof body[f] !== "string")
  ) {
    throw new InputError("not a dataledger key file: it needs type, keyid, public_key, private_key");
  }
  if (body.type !== KEY_FILE_TYPE) throw new InputError(`unsupported key file type ${body.type}`);
  const seed = b64decode(body.private_key);
  if (seed === null || seed.length !== 32) {
    throw new InputError("private_key must be a 32-byte Ed25519 seed in base64");
  }
  await requireEd25519();
  const pkcs8 = concat(PKCS8_ED25519_PREFIX, seed);
  try {
    // Imported once extractable only to read the public half (JWK "x"), then again for signing.
    const probe = await subtle().importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
    const jwk = await subtle().exportKey("jwk", probe);
    const publicKey = b64urlDecode(jwk.x);
    if (publicKey === null || publicKey.length !== 32) {
      throw new InputError("could not derive the public key from the seed");
    }
    const keyid = bytesToHex(await sha256(publicKey));
    if (b64encode(publicKey) !== body.public_key || keyid !== body.keyid) {
      throw new InputError(
        "key file is inconsistent: public_key or keyid does not match the private key",
      );
    }
    const privateKey = await subtle().importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, [
      "sign",
    ]);
    return { keyid, publicKey, privateKey };
  } finally {
    // Best effort: do not leave copies of the seed lying around in this page's memory.
    pkcs8.fill(0);
    seed.fill(0);
  }
}

/** Encode `statement` canonically and wrap it in a DSSE envelope signed by `key`. */
export async function signStatement(key, statement) {
  const payload = utf8(canonicalJson(statement));
  const signature = new Uint8Array(
    await subtle().sign({ name: "Ed25519" }, key.privateKey, pae(STATEMENT_PAYLOAD_TYPE, payload)),
  );
  const envelope = {
    payload: b64encode(payload),
    payloadType: STATEMENT_PAYLOAD_TYPE,
    signatures: [{ keyid: key.keyid, sig: b64encode(signature) }],
  };
  return { envelope, payload };
}

// --- HTTP ----------------------------------------------------------------------------------------------

/** A refusal by the server, carrying its RFC 9457 problem details. */
export class Refused extends Error {
  constructor(status, problem) {
    super(`${status} ${problem.title || ""}: ${problem.detail || ""}`);
    this.name = "Refused";
    this.status = status;
    this.problem = problem;
  }
}

async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body,
    credentials: "same-origin",
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new Refused(
      response.status,
      isPlainObject(data) ? data : { title: response.statusText || `HTTP ${response.status}` },
    );
  }
  return data;
}

// --- the page: receipts -----------------------------------------------------------------------------

function metaContent(name) {
  const meta = document.querySelector(`meta[name="${name}"]`);
  return meta ? meta.getAttribute("content") : null;
}

let pageVerifier = null;

function receiptVerifier() {
  pageVerifier ??= makeReceiptVerifier(metaContent("dl-log-vkey"), metaContent("dl-origin"));
  return pageVerifier;
}

function setStatus(node, message, state) {
  if (!node) return;
  node.textContent = message;
  if (state) node.dataset.state = state;
}

/** Show the outcome of a failed check: "NOT verified" for bad data, "cannot verify" for us. */
function failureMessage(err) {
  const t = text();
  if (err instanceof CheckFailed) {
    const reason = reasonText(err.code);
    return err.code === "no-ed25519" || err.code === "no-webcrypto"
      ? t.cannotVerify(reason)
      : t.notVerified(reason);
  }
  return t.notVerified(String(err?.message || err));
}

/** Verify one `.dl-receipt` element and mark it; resolves to true when verified. */
export async function checkReceiptElement(element) {
  const status = element.querySelector(".dl-receipt-status");
  setStatus(status, text().verifying, "pending");
  element.dataset.verified = "pending";
  try {
    const script = element.querySelector("script.dl-receipt-json");
    let receipt;
    try {
      receipt = JSON.parse(script ? script.textContent : "");
    } catch {
      throw new CheckFailed("receipt-malformed", "receipt is not JSON");
    }
    const shown = element.dataset.index;
    if (shown !== undefined && shown !== "" && String(receipt?.index) !== shown) {
      throw new CheckFailed("index-mismatch", `page shows ${shown}, receipt is ${receipt?.index}`);
    }
    await receiptVerifier().verify(receipt);
    element.dataset.verified = "true";
    delete element.dataset.verifyError;
    setStatus(status, text().verified, "verified");
    if (status) status.title = "";
    return true;
  } catch (err) {
    element.dataset.verified = "false";
    element.dataset.verifyError = err instanceof CheckFailed ? err.code : "error";
    setStatus(status, failureMessage(err), "failed");
    if (status && err instanceof CheckFailed && err.detail) status.title = err.detail;
    return false;
  }
}

function checkReceipts(root = document) {
  return Promise.all(
    Array.from(root.querySelectorAll(".dl-receipt"), (el) => checkReceiptElement(el)),
  );
}

// --- the page: sign-in ------------------------------------------------------------------------------

// The key chosen on this page, as a non-extractable CryptoKey: gone when the page goes.
let pageKey = null;

async function keyFromInput(input) {
  const file = input?.files?.[0];
  if (!file) return null;
  return importKeyFile(await file.text());
}

function safeNext() {
  const next = new URLSearchParams(window.location.search).get("next");
  // Only a path on this site: never "//host" or "https://..." (no open redirect).
  if (next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\")) {
    return next;
  }
  return "/";
}

function problemMessage(err) {
  const t = text();
  if (err instanceof Refused) return t.refused(err.problem.title || "", err.problem.detail || "");
  if (err instanceof CheckFailed && (err.code === "no-ed25519" || err.code === "no-webcrypto")) {
    return t.cannotSign(reasonText(err.code));
  }
  if (err instanceof CheckFailed) return failureMessage(err);
  return t.failed(err?.message || String(err));
}

async function signIn(form) {
  const status = document.getElementById("dl-signin-status");
  const t = text();
  form.setAttribute("aria-busy", "true");
  try {
    setStatus(status, t.readingKey, "pending");
    const key = await keyFromInput(document.getElementById("dl-keyfile"));
    if (!key) {
      setStatus(status, t.chooseKey, "failed");
      return;
    }
    pageKey = key;
    setStatus(status, t.signingIn, "pending");
    const expires = rfc3339(new Date(Date.now() + LOGIN_LIFETIME_MS));
    const { envelope } = await signStatement(key, newStatement("auth.login", { expires_at: expires }));
    const login = await postJson("/v1/auth/login", canonicalJson(envelope));
    await postJson("/web/session", JSON.stringify({ token: login.token }));
    form.dataset.partyId = login.party_id;
    setStatus(status, t.signedIn(login.party_id), "done");
    window.location.assign(safeNext());
  } catch (err) {
    setStatus(status, problemMessage(err), "failed");
  } finally {
    form.removeAttribute("aria-busy");
  }
}

function enhanceSignIn() {
  const form = document.getElementById("dl-signin-form");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(form);
  });
  // Without a submit button, choosing the file is the action.
  if (!form.querySelector('button:not([type="button"]):not([type="reset"]), input[type="submit"]')) {
    document.getElementById("dl-keyfile")?.addEventListener("change", () => signIn(form));
  }
}

// --- the page: signed actions -----------------------------------------------------------------------

// Field types per statement kind (ledger/statements.py); anything else is a string. A trailing "?"
// means optional: left out of the statement when empty, as is an empty control that is not
// `required`. An input's data-type ("integer", "list", "bool", "amount") overrides this table.
const FIELD_TYPES = {
  "asset.object": { evidence_fingerprint: "str?" },
  "objection.resolve": {},
  "licence.request": { term_days: "int", territory: "list", units: "int?", lawful_basis: "str?" },
  "licence.approve": { "price.amount_minor": "int", "price.amount": "amount" },
  "licence.reject": {},
  "licence.regulator_approve": {},
  "licence.revoke": {},
  "licence.terminate": { reason: "str?" },
  "offer.withdraw": { reason: "str?" },
  "dispute.open": { evidence_fingerprint: "str?" },
  "dispute.answer": {},
  "dispute.resolve": {
    "refund.amount_minor": "int?",
    usage_correction: "int?",
    revoke_licence: "bool",
  },
  "payment.record": { "amount.amount_minor": "int", reference: "str?" },
  "payment.confirm": {},
  "asset.freeze": {},
  "asset.unfreeze": {},
  "rights.accept": {},
};

const TYPE_ALIASES = { integer: "int", number: "int", string: "str", boolean: "bool" };

function fieldType(kind, element) {
  const declared = element.dataset.type;
  if (declared) return TYPE_ALIASES[declared] || declared;
  return FIELD_TYPES[kind]?.[element.name] || "str";
}

/** "150.5" (major units) -> 15050 minor units, exactly (no floating point). */
function amountToMinor(value) {
  const match = /^(\d{1,16})(?:\.(\d{1,2}))?$/.exec(value.trim());
  if (!match) return null;
  return Number(BigInt(match[1]) * 100n + BigInt((match[2] || "").padEnd(2, "0")));
}

function setPath(target, path, value) {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key];
  }
  node[keys.at(-1)] = value;
}

/** The statement's fields from the form's named controls, typed as the schema wants. */
export function collectFields(form, kind) {
  const t = text();
  const fields = {};
  for (const element of form.elements) {
    const name = element.name;
    if (!name || element.disabled) continue;
    const control = element.type;
    if (["file", "submit", "button", "reset", "image"].includes(control)) continue;
    if (control === "radio" && !element.checked) continue;
    const type = fieldType(kind, element);
    const base = type.replace(/\?$/, "");
    // Optional: marked so in the table, or a visible control the form does not require.
    const optional = type.endsWith("?") || (control !== "hidden" && !element.required);
    if (base === "bool") {
      setPath(fields, name, control === "checkbox" ? element.checked : element.value === "true");
      continue;
    }
    const raw =
      control === "select-multiple"
        ? Array.from(element.selectedOptions, (o) => o.value)
        : element.value;
    if (optional && (raw === "" || (Array.isArray(raw) && raw.length === 0))) continue;
    const label = name.replace(/_/g, " ");
    let value;
    if (base === "int") {
      if (!/^\d{1,18}$/.test(String(raw).trim())) {
        throw new InputError(t.badField(label, t.wholeNumber));
      }
      value = Number(String(raw).trim());
      if (!Number.isSafeInteger(value)) throw new InputError(t.badField(label, t.wholeNumber));
    } else if (base === "amount") {
      value = amountToMinor(String(raw));
      if (value === null) throw new InputError(t.badField(label, t.amount));
      // "price.amount" (or just "price") in major units becomes price.amount_minor.
      setPath(fields, `${name.replace(/\.amount$/, "")}.amount_minor`, value);
      continue;
    } else if (base === "list") {
      value = Array.isArray(raw) ? raw : raw.split(/[\s,，]+/).filter(Boolean);
    } else {
      value = raw;
    }
    setPath(fields, name, value);
  }
  return fields;
}

function actionKeyInput(form) {
  const existing = form.querySelector('input[type="file"]');
  if (existing) return existing;
  // The key file is asked for at action time: no key is kept between pages (see the top).
  const label = document.createElement("label");
  const input = document.createElement("input");
  input.type = "file";
  input.accept = ".json,application/json";
  input.className = "dl-action-keyfile";
  label.append(`${text().keyLabel} `, input);
  const holder = document.createElement("p");
  holder.className = "dl-field dl-action-key";
  holder.append(label);
  // Before the submit button's block, so the key comes before the button in tab order.
  let anchor = form.querySelector('button:not([type="button"]), input[type="submit"]');
  while (anchor && !["FORM", "FIELDSET"].includes(anchor.parentElement?.tagName)) {
    anchor = anchor.parentElement;
  }
  if (anchor) anchor.before(holder);
  else form.append(holder);
  return input;
}

async function submitAction(form, keyInput) {
  const t = text();
  const status = form.querySelector(".dl-action-status");
  const kind = form.dataset.kind;
  const endpoint = form.dataset.endpoint || "/v1/statements";
  form.setAttribute("aria-busy", "true");
  delete form.dataset.result;
  try {
    const fields = collectFields(form, kind);
    let key = pageKey;
    if (keyInput?.files?.length) {
      setStatus(status, t.readingKey, "pending");
      key = await keyFromInput(keyInput);
      pageKey = key;
    }
    if (!key) {
      form.dataset.result = "error";
      setStatus(status, t.chooseKey, "failed");
      keyInput?.focus();
      return;
    }
    setStatus(status, t.signing, "pending");
    const { envelope, payload } = await signStatement(key, newStatement(kind, fields));
    const id = await statementId(payload);
    const receipt = await postJson(endpoint, canonicalJson(envelope));
    status.dataset.index = String(receipt?.index ?? "");
    status.dataset.id = id;
    try {
      await receiptVerifier().verify(receipt);
      form.dataset.result = "verified";
      setStatus(status, t.recorded(receipt.index, id), "verified");
      const link = document.createElement("a");
      link.href = `/log/entries/${receipt.index}`;
      link.textContent = t.seeEntry;
      status.append(" · ", link);
    } catch (err) {
      form.dataset.result = "unverified";
      const reason = err instanceof CheckFailed ? reasonText(err.code) : String(err);
      setStatus(status, t.recordedUnverified(receipt?.index, reason), "failed");
    }
  } catch (err) {
    form.dataset.result = err instanceof Refused ? "refused" : "error";
    setStatus(status, problemMessage(err), "failed");
  } finally {
    form.removeAttribute("aria-busy");
  }
}

function enhanceActions(root = document) {
  for (const form of root.querySelectorAll("form.dl-action")) {
    const keyInput = actionKeyInput(form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitAction(form, keyInput);
    });
  }
}

// --- start --------------------------------------------------------------------------------------------

/** Enhance the page: check every receipt, wire sign-in and signed actions. */
export function start() {
  enhanceSignIn();
  enhanceActions();
  return checkReceipts();
}

/** Resolves when the page's receipts are checked (for tests and for scripts that wait). */
export const ready = new Promise((resolve) => {
  const go = () => start().then(resolve, resolve);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go);
  else go();
});
