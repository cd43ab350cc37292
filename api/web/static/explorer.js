// The web explorer's browser side: receipts checked with WebCrypto, sign-in with a key file, and
// signed actions. Plain ES module, no build step, no dependency: it ships inside the package.
//
// Trust: receipts are checked against the log key pinned in this browser (localStorage), not the
// one the page serves: pinned from a link (`#vkey=...`), pasted into the footer's panel, or taken
// from the first page seen (trust on first use, and the footer says so). When the page's key
// (<meta name="dl-log-vkey">) differs from the pinned one, the page warns and no receipt on it
// verifies. Otherwise the page gives only the log's origin (<meta name="dl-origin">) and the data
// to check. A receipt is "verified in your browser" only after the same checks as
// ledger/receipts.py verify_receipt passed here: the checkpoint's Ed25519 signature by the pinned
// key, its origin, the leaf hash recomputed from the entry bytes, the index the entry names, and
// the RFC 6962 inclusion proof up to the signed root. (The script itself comes from the server:
// pinning guards against a page whose key was swapped, not against a server that also rewrites
// this script; see docs/explorer.md.)
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
    "vkey-mismatch": "the page's log key differs from the key you pinned",
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
    "no-storage": "this browser keeps no storage for this site",
  },
  zh: {
    "receipt-malformed": "收据格式有误",
    "index-mismatch": "收据与页面所示条目不符",
    "vkey-malformed": "页面上的日志公钥格式有误",
    "vkey-mismatch": "页面上的日志公钥与您固定的公钥不同",
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
    "no-storage": "此浏览器不为本站保存数据",
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
    // pinned trust: the log key receipts are checked against
    pinnedHow: {
      "first-use": (date) => `pinned on first use on ${date}`,
      link: (date) => `you pinned from a link on ${date}`,
      pasted: (date) => `you pinned on ${date}`,
      page: (date) => `you pinned from this page on ${date}`,
    },
    summaryAll: (n, key, how) =>
      `${n === 1 ? "The receipt" : `All ${n} receipts`} on this page ${n === 1 ? "was" : "were"} ` +
      `verified in your browser against the log key ${how} (${key}), ` +
      "not against the server's word.",
    summarySome: (v, n, key, how) =>
      `${v} of ${n} receipts on this page were verified in your browser against the log key ` +
      `${how} (${key}); the other ${n - v} were NOT verified.`,
    summaryNone: (n, key, how) =>
      `No receipt on this page was verified: ${n === 1 ? "its receipt" : `all ${n} receipts`} ` +
      `failed the check in your browser against the log key ${how} (${key}).`,
    summaryEmpty: (key, how) =>
      `This page shows no receipt, so nothing on it was verified. The log key ${how} is ${key}.`,
    summaryMismatch: (key, how) =>
      `No receipt on this page was verified: the page's log key differs from the key ${how} ` +
      `(${key}).`,
    summaryUnpinned: (v, n, key, why) =>
      (n === 0
        ? "This page shows no receipt, so nothing on it was verified. "
        : `${v} of ${n} receipts on this page were verified in your browser, but only against ` +
          `the log key this page serves (${key}), so this rests on the server's word: `) +
      (why === "no-storage"
        ? "this browser keeps no storage for this site, so no key can be pinned."
        : "you un-pinned the log key; the next page you open pins its key on first use."),
    summaryNoKey: (reason) => `No receipt on this page was verified: ${reason}.`,
    firstUseNote:
      "This key was pinned on first use: compare it with the log's key from a source you trust " +
      "(the operator, dataledger log key, a witness), or paste that one below.",
    warningTitle: "Warning: this page's log key is not the one you pinned.",
    warningBody: (pageKey, key, how) =>
      `The page says the log key is ${pageKey}, but the key ${how} is ${key}. Every receipt on ` +
      `this page is treated as NOT verified. If the log really changed its key, get the new key ` +
      `from a source you trust and pin it in the panel at the foot of the page.`,
    warningNoKey: (key, how) =>
      `This page serves no usable log key, but the key ${how} is ${key}. Every receipt on this ` +
      `page is treated as NOT verified.`,
    offerTitle: "This link asks you to pin another log key.",
    offerBody: (linkKey, key, how) =>
      `The link names the log key ${linkKey}; the key ${how} is ${key}. ` +
      "Pin the link's key only if you got the link from a source you trust.",
    offerAccept: "Pin the link's key",
    offerKeep: "Keep my pinned key",
    linkKeyBad: (reason) => `The log key in this link was not pinned: ${reason}.`,
    panelTitle: "Pinned log key",
    panelPinned: (key, how) => `Receipts are checked against ${key}, ${how}.`,
    panelNone: "No log key is pinned in this browser.",
    panelNoStorage: "This browser keeps no storage for this site, so no key can be pinned.",
    pasteLabel:
      "Pin a log verifier key (the line GET /v1/log/key returns, from a source you trust)",
    pinPasted: "Pin this key",
    pinPage: "Pin the key this page serves",
    unpin: "Un-pin",
    pinnedNow: (key) => `pinned ${key}; the receipts on this page were checked again`,
    unpinnedNow: "un-pinned: the next page you open pins its key on first use",
    pinBad: (reason) => `not pinned: ${reason}`,
    notAVkey: "this is not a log verifier key (<name>+<key id>+<key>)",
    panelServed: "This page serves the log key",
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
    pinnedHow: {
      "first-use": (date) => `于 ${date} 首次访问时固定`,
      link: (date) => `由您于 ${date} 通过链接固定`,
      pasted: (date) => `由您于 ${date} 固定`,
      page: (date) => `由您于 ${date} 从本页固定`,
    },
    summaryAll: (n, key, how) =>
      `本页${n === 1 ? "的收据" : `全部 ${n} 份收据`}已在您的浏览器中使用${how}的日志公钥（${key}）验证，` +
      `无需信任服务器的说法。`,
    summarySome: (v, n, key, how) =>
      `本页 ${n} 份收据中有 ${v} 份已在您的浏览器中使用${how}的日志公钥（${key}）验证；` +
      `其余 ${n - v} 份未通过验证。`,
    summaryNone: (n, key, how) =>
      `本页没有收据通过验证：${n === 1 ? "其收据" : `全部 ${n} 份收据`}` +
      `未通过您的浏览器使用${how}的日志公钥（${key}）所做的验证。`,
    summaryEmpty: (key, how) => `本页没有收据，因此未验证任何内容。${how}的日志公钥为 ${key}。`,
    summaryMismatch: (key, how) =>
      `本页没有收据通过验证：页面上的日志公钥与${how}的公钥（${key}）不同。`,
    summaryUnpinned: (v, n, key, why) =>
      (n === 0
        ? "本页没有收据，因此未验证任何内容。"
        : `本页 ${n} 份收据中有 ${v} 份已在您的浏览器中验证，但所用的只是本页提供的日志公钥` +
          `（${key}），因此结果取决于服务器的说法：`) +
      (why === "no-storage"
        ? "此浏览器不为本站保存数据，无法固定公钥。"
        : "您已取消固定日志公钥；您打开的下一个页面将在首次访问时固定其公钥。"),
    summaryNoKey: (reason) => `本页没有收据通过验证：${reason}。`,
    firstUseNote:
      "此公钥是首次访问时固定的：请与您信任的来源（运营方、dataledger log key、见证者）" +
      "提供的日志公钥核对，或在下方粘贴该公钥。",
    warningTitle: "警告：本页的日志公钥不是您固定的公钥。",
    warningBody: (pageKey, key, how) =>
      `页面声称日志公钥为 ${pageKey}，但${how}的公钥为 ${key}。本页所有收据均视为未通过验证。` +
      `如果日志确实更换了公钥，请从您信任的来源获取新公钥，并在页面底部的面板中固定。`,
    warningNoKey: (key, how) =>
      `本页未提供可用的日志公钥，而${how}的公钥为 ${key}。本页所有收据均视为未通过验证。`,
    offerTitle: "此链接要求您固定另一个日志公钥。",
    offerBody: (linkKey, key, how) =>
      `链接给出的日志公钥为 ${linkKey}；${how}的公钥为 ${key}。` +
      `只有当链接来自您信任的来源时，才固定链接中的公钥。`,
    offerAccept: "固定链接中的公钥",
    offerKeep: "保留已固定的公钥",
    linkKeyBad: (reason) => `未固定此链接中的日志公钥：${reason}。`,
    panelTitle: "已固定的日志公钥",
    panelPinned: (key, how) => `收据将使用 ${key} 验证（${how}）。`,
    panelNone: "此浏览器尚未固定日志公钥。",
    panelNoStorage: "此浏览器不为本站保存数据，因此无法固定公钥。",
    pasteLabel: "固定日志验证公钥（即 GET /v1/log/key 返回的一行，请从您信任的来源获取）",
    pinPasted: "固定此公钥",
    pinPage: "固定本页提供的公钥",
    unpin: "取消固定",
    pinnedNow: (key) => `已固定 ${key}；本页收据已重新验证`,
    unpinnedNow: "已取消固定：您打开的下一个页面将在首次访问时固定其公钥",
    pinBad: (reason) => `未固定：${reason}`,
    notAVkey: "这不是日志验证公钥（<名称>+<密钥编号>+<公钥>）",
    panelServed: "本页提供的日志公钥为",
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

/**
 * Read a verifier key `<name>+<hex key id>+<base64(0x01 || public key)>` and check its key id,
 * without importing it: {name, keyId, publicKey, vkey (canonical spelling), label (name+id)}.
 */
export async function vkeyParts(vkey) {
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
  const label = `${name}+${bytesToHex(keyId)}`;
  return { name, keyId, publicKey, label, vkey: `${label}+${b64encode(raw)}` };
}

/** Whether two verifier keys (from vkeyParts) are the same key. */
export function sameVkey(a, b) {
  return a.name === b.name && equalBytes(a.keyId, b.keyId) && equalBytes(a.publicKey, b.publicKey);
}

/** Parse a verifier key (see vkeyParts) and import it for verifying: adds `cryptoKey`. */
export async function parseVkey(vkey) {
  const parts = await vkeyParts(vkey);
  return { ...parts, cryptoKey: await importVerifyKey(parts.publicKey, "vkey-malformed") };
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

/**
 * A statement of `kind` for this page's log (its origin, <meta name="dl-origin">), issued now,
 * with a fresh 16-byte nonce (api/client.py new_statement).
 */
export function newStatement(kind, fields = {}, origin = metaContent("dl-origin")) {
  return { kind, issued_at: rfc3339(new Date()), nonce: randomHex(16), origin, ...fields };
}

/**
 * The commitment to a private value (ledger/privacy.py commit): lowercase hex SHA-256 over
 * "dataledger/commitment/v1" LF kind LF field LF, the 32-byte salt, and the canonical JSON value.
 */
export async function commitValue(kind, field, salt, value) {
  const head = utf8(`dataledger/commitment/v1\n${kind}\n${field}\n`);
  return bytesToHex(await sha256(concat(head, salt, utf8(canonicalJson(value)))));
}

/**
 * Replace the private fields of a statement (`privateFields`, from the form's data-private,
 * which the server renders from ledger.privacy) by commitments, each with a fresh salt; the
 * openings go beside the envelope, never into the signed bytes (ledger/privacy.py seal).
 */
export async function sealStatement(statement, privateFields) {
  const sealed = { ...statement };
  const openings = {};
  const commitments = {};
  for (const field of privateFields) {
    if (!(field in sealed)) continue;
    const value = sealed[field];
    delete sealed[field];
    const salt = crypto.getRandomValues(new Uint8Array(32));
    commitments[field] = await commitValue(statement.kind, field, salt, value);
    openings[field] = { salt: bytesToHex(salt), value };
  }
  if (privateFields.length) sealed.commitments = commitments;
  return { statement: sealed, openings };
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

// --- the page: the pinned log key --------------------------------------------------------------
//
// Receipts are checked against a log key pinned in this browser (localStorage, so per site),
// never against the key the page serves once a key is pinned: a server that swapped the page's
// key for its own would otherwise vouch for itself. A key is pinned from a link's fragment
// (`#vkey=<url-encoded vkey>`), pasted into the panel in the footer, or, when nothing is pinned
// yet, taken from the first page seen (trust on first use, and the page says so). When the
// page's key differs from the pinned one, the page warns and every receipt on it fails with
// "vkey-mismatch". A link never replaces a pin silently: the page asks first.

const PIN_STORAGE_KEY = "dataledger.pinned-log-key";
const PIN_HOWS = ["first-use", "link", "pasted", "page"];

function pinStorage() {
  try {
    const store = globalThis.localStorage;
    store?.getItem(PIN_STORAGE_KEY); // throws where storage is disabled
    return store || null;
  } catch {
    return null;
  }
}

/** The pinned log key as stored, {vkey, pinnedAt, how}, or null when none (readable) is. */
export function readPin() {
  const store = pinStorage();
  if (!store) return null;
  let pin;
  try {
    pin = JSON.parse(store.getItem(PIN_STORAGE_KEY) || "null");
  } catch {
    return null;
  }
  const ok =
    isPlainObject(pin) &&
    typeof pin.vkey === "string" &&
    typeof pin.pinnedAt === "string" &&
    PIN_HOWS.includes(pin.how);
  return ok ? { vkey: pin.vkey, pinnedAt: pin.pinnedAt, how: pin.how } : null;
}

/** Check `vkey` and pin it in this browser; `how`: "pasted", "link", "page" or "first-use". */
export async function pinVkey(vkey, how = "pasted") {
  if (!PIN_HOWS.includes(how)) throw new Error(`unknown way of pinning: ${how}`);
  const parts = await vkeyParts(vkey);
  const store = pinStorage();
  if (!store) throw new CheckFailed("no-storage");
  const pin = { vkey: parts.vkey, pinnedAt: new Date().toISOString(), how };
  try {
    store.setItem(PIN_STORAGE_KEY, JSON.stringify(pin));
  } catch (err) {
    throw new CheckFailed("no-storage", String(err?.name || err));
  }
  return pin;
}

/** Forget the pinned log key. */
export function unpinVkey() {
  pinStorage()?.removeItem(PIN_STORAGE_KEY);
}

/** The `vkey=` part of the address's fragment, decoded, or null. */
function fragmentVkey() {
  for (const part of window.location.hash.replace(/^#/, "").split("&")) {
    if (!part.startsWith("vkey=")) continue;
    try {
      return decodeURIComponent(part.slice(5));
    } catch {
      return part.slice(5);
    }
  }
  return null;
}

/** Take `vkey=` out of the address bar once it has been dealt with (kept: the rest). */
function dropFragmentVkey() {
  const rest = window.location.hash
    .replace(/^#/, "")
    .split("&")
    .filter((part) => part && !part.startsWith("vkey="));
  const { pathname, search } = window.location;
  try {
    const hash = rest.length ? `#${rest.join("&")}` : "";
    history.replaceState(history.state, "", pathname + search + hash);
  } catch {
    // an opaque or sandboxed page: leave the address as it is
  }
}

let trustPromise = null;
let autoPin = true; // off once the person un-pins on this page

/** What this page's receipts are checked against (resolved once per page, or per pin change). */
async function resolveTrust() {
  const served = metaContent("dl-log-vkey");
  const state = {
    served,
    page: null, // the served key, checked
    pageError: null,
    pin: null, // {vkey, pinnedAt, how}
    pinParts: null,
    offer: null, // a link's key that differs from the pin: pinned only if the person says so
    linkError: null,
    canStore: pinStorage() !== null,
    mismatch: false,
  };
  try {
    state.page = await vkeyParts(served);
  } catch (err) {
    state.pageError = err;
  }
  const stored = readPin();
  if (stored) {
    try {
      state.pinParts = await vkeyParts(stored.vkey);
      state.pin = stored;
    } catch {
      // unreadable: as if nothing were pinned
    }
  }
  const linked = fragmentVkey();
  if (linked !== null) {
    try {
      const parts = await vkeyParts(linked);
      if (!state.pin) {
        state.pin = await pinVkey(parts.vkey, "link");
        state.pinParts = parts;
        dropFragmentVkey();
      } else if (sameVkey(parts, state.pinParts)) {
        dropFragmentVkey();
      } else {
        state.offer = parts;
      }
    } catch (err) {
      state.linkError = err;
      dropFragmentVkey();
    }
  }
  if (!state.pin && state.page && state.canStore && autoPin) {
    try {
      state.pin = await pinVkey(state.page.vkey, "first-use");
      state.pinParts = state.page;
    } catch {
      // storage refused the write: checked against the served key, and the footer says so
    }
  }
  state.mismatch = state.pin !== null && !(state.page && sameVkey(state.page, state.pinParts));
  const origin = metaContent("dl-origin");
  if (state.mismatch) {
    const served = state.page ? state.page.label : "no usable log key";
    const detail = `the page serves ${served}, you pinned ${state.pinParts.label}`;
    state.verifier = {
      async verify() {
        throw new CheckFailed("vkey-mismatch", detail);
      },
    };
  } else {
    state.verifier = makeReceiptVerifier(state.pin ? state.pin.vkey : served, origin);
  }
  return state;
}

function pageTrust() {
  trustPromise ??= resolveTrust();
  return trustPromise;
}

/** Check a receipt as this page does: against the pinned key (see above); throws CheckFailed. */
export async function verifyOnPage(receipt) {
  return (await pageTrust()).verifier.verify(receipt);
}

function formatDate(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  try {
    return new Intl.DateTimeFormat(pageLang() === "zh" ? "zh-CN" : "en-GB", {
      dateStyle: "long",
      timeStyle: "short",
    }).format(date);
  } catch {
    return iso.slice(0, 16).replace("T", " ");
  }
}

function pinnedHow(pin) {
  return text().pinnedHow[pin.how](formatDate(pin.pinnedAt));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** The footer's sentence: what was checked against what, counted. */
function summaryText(state, results) {
  const t = text();
  const n = results.length;
  const v = results.filter(Boolean).length;
  if (state.mismatch) return t.summaryMismatch(state.pinParts.label, pinnedHow(state.pin));
  if (state.pin) {
    const key = state.pinParts.label;
    const how = pinnedHow(state.pin);
    if (n === 0) return t.summaryEmpty(key, how);
    if (v === n) return t.summaryAll(n, key, how);
    if (v === 0) return t.summaryNone(n, key, how);
    return t.summarySome(v, n, key, how);
  }
  if (!state.page) return t.summaryNoKey(reasonText(state.pageError?.code || "vkey-malformed"));
  const why = state.canStore && !autoPin ? "unpinned" : "no-storage";
  return t.summaryUnpinned(v, n, state.page.label, why);
}

function summaryState(state, results) {
  if (state.mismatch) return "mismatch";
  if (!state.pin) return "unpinned";
  const v = results.filter(Boolean).length;
  if (results.length === 0) return "empty";
  return v === results.length ? "verified" : v === 0 ? "failed" : "partial";
}

function renderSummary(state, results) {
  const node = document.getElementById("dl-trust-summary");
  if (!node) return;
  node.textContent = summaryText(state, results);
  node.dataset.state = summaryState(state, results);
  node.dataset.verified = String(results.filter(Boolean).length);
  node.dataset.receipts = String(results.length);
  if (state.pin) {
    node.dataset.pinnedKey = state.pinParts.label;
    node.dataset.pinnedHow = state.pin.how;
    node.dataset.pinnedAt = state.pin.pinnedAt;
  } else {
    for (const name of ["pinnedKey", "pinnedHow", "pinnedAt"]) delete node.dataset[name];
  }
}

function topSlot() {
  return document.querySelector("main") || document.body;
}

/** The warning when the page's key is not the pinned one, and a link's offer to re-pin. */
function renderNotices(state) {
  const t = text();
  for (const id of ["dl-trust-warning", "dl-trust-offer", "dl-trust-link"]) {
    document.getElementById(id)?.remove();
  }
  const notices = [];
  if (state.mismatch) {
    const how = pinnedHow(state.pin);
    const body = state.page
      ? t.warningBody(state.page.label, state.pinParts.label, how)
      : t.warningNoKey(state.pinParts.label, how);
    const panel = document.getElementById("dl-trust")
      ? el("a", { href: "#dl-trust", class: "dl-trust-jump" }, t.panelTitle)
      : null;
    notices.push(
      el(
        "div",
        { id: "dl-trust-warning", class: "dl-trust-warning", role: "alert" },
        el("p", { class: "dl-trust-warning-title" }, el("strong", {}, t.warningTitle)),
        el("p", {}, body, panel ? " " : null, panel),
      ),
    );
  }
  if (state.offer) {
    const accept = el("button", { type: "button", "data-trust": "accept-link" }, t.offerAccept);
    const keep = el("button", { type: "button", "data-trust": "keep-pin" }, t.offerKeep);
    accept.addEventListener("click", () =>
      changePin(() => pinVkey(state.offer.vkey, "link"), state.offer.label),
    );
    keep.addEventListener("click", () => {
      dropFragmentVkey();
      changePin(null);
    });
    notices.push(
      el(
        "section",
        { id: "dl-trust-offer", class: "dl-trust-offer", "aria-labelledby": "dl-trust-offer-h" },
        el("p", { id: "dl-trust-offer-h" }, el("strong", {}, t.offerTitle)),
        el("p", {}, t.offerBody(state.offer.label, state.pinParts.label, pinnedHow(state.pin))),
        el("p", { class: "dl-trust-buttons" }, accept, " ", keep),
      ),
    );
  }
  if (state.linkError) {
    const code = state.linkError.code;
    const reason = code === "vkey-malformed" ? t.notAVkey : reasonText(code || "vkey-malformed");
    notices.push(
      el("p", { id: "dl-trust-link", class: "dl-note", role: "status" }, t.linkKeyBad(reason)),
    );
  }
  topSlot().prepend(...notices);
}

/** The panel in the footer: the pinned key, and forms to pin another or un-pin. */
function renderPanel(state) {
  const footer = document.querySelector("footer.dl-footer");
  if (!footer) return;
  const t = text();
  const old = document.getElementById("dl-trust");
  const status = el("p", { class: "dl-trust-status", role: "status", "aria-live": "polite" });
  if (old) status.textContent = old.querySelector(".dl-trust-status")?.textContent || "";
  const facts = [];
  if (state.pin) {
    const pinned = t.panelPinned(state.pinParts.label, pinnedHow(state.pin));
    facts.push(el("p", { class: "dl-trust-pinned" }, pinned));
    facts.push(el("p", {}, el("code", { class: "dl-id" }, state.pin.vkey)));
    if (state.pin.how === "first-use") facts.push(el("p", { class: "dl-small" }, t.firstUseNote));
  } else {
    const none = state.canStore ? t.panelNone : t.panelNoStorage;
    facts.push(el("p", { class: "dl-trust-pinned" }, none));
  }
  if (state.page && (!state.pin || state.mismatch)) {
    facts.push(el("p", {}, t.panelServed, " ", el("code", { class: "dl-id" }, state.page.vkey)));
  }
  const input = el("input", {
    id: "dl-trust-vkey",
    name: "vkey",
    type: "text",
    autocomplete: "off",
    spellcheck: "false",
    required: "",
  });
  const form = el(
    "form",
    { class: "dl-trust-form", id: "dl-trust-form" },
    el("p", { class: "dl-field" }, el("label", { for: "dl-trust-vkey" }, t.pasteLabel), input),
    el("p", {}, el("button", { type: "submit" }, t.pinPasted)),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    changePin(() => pinVkey(input.value, "pasted"));
  });
  const buttons = el("p", { class: "dl-trust-buttons" });
  if (state.canStore && state.page && (!state.pin || state.mismatch)) {
    const pinPage = el("button", { type: "button", "data-trust": "pin-page" }, t.pinPage);
    pinPage.addEventListener("click", () => changePin(() => pinVkey(state.page.vkey, "page")));
    buttons.append(pinPage, " ");
  }
  if (state.pin) {
    const unpin = el("button", { type: "button", "data-trust": "unpin" }, t.unpin);
    unpin.addEventListener("click", () => {
      unpinVkey();
      autoPin = false;
      changePin(null, null, t.unpinnedNow);
    });
    buttons.append(unpin);
  }
  const panel = el(
    "details",
    { id: "dl-trust", class: "dl-trust", open: old?.open || state.mismatch ? "" : null },
    el(
      "summary",
      {},
      t.panelTitle,
      state.pin ? ": " : null,
      state.pin ? el("code", {}, state.pinParts.label) : null,
    ),
    ...facts,
    state.canStore ? form : null,
    buttons.childNodes.length ? buttons : null,
    status,
  );
  if (old) old.replaceWith(panel);
  else footer.append(panel);
}

let changing = Promise.resolve();

/** Apply a change of pin (`action`, may be null), then check the page's receipts again. */
function changePin(action, label = null, message = null) {
  changing = changing.then(async () => {
    const t = text();
    let note = message;
    try {
      const pin = action ? await action() : null;
      if (pin && !message) note = t.pinnedNow(label || (await vkeyParts(pin.vkey)).label);
      if (pin) autoPin = true;
    } catch (err) {
      const code = err instanceof CheckFailed ? err.code : null;
      const reason = code === "vkey-malformed" ? t.notAVkey : code ? reasonText(code) : null;
      note = t.pinBad(reason || String(err?.message || err));
    }
    trustPromise = null;
    await refreshTrust();
    const status = document.querySelector("#dl-trust .dl-trust-status");
    if (status && note) status.textContent = note;
  });
  return changing;
}

/** Resolve what to trust, check every receipt against it, and say so. */
async function refreshTrust() {
  const state = await pageTrust();
  renderPanel(state);
  renderNotices(state);
  const results = await checkReceipts();
  renderSummary(state, results);
  return results;
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
    await verifyOnPage(receipt);
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
  if (!next) return "/";
  // Resolved as the browser will resolve it, then only a page of this site: "//host",
  // "/\\host", "https://..." and "/<tab>/host" (the parser drops tabs and newlines) all leave.
  try {
    const url = new URL(next, window.location.origin);
    if (url.origin === window.location.origin) return url.pathname + url.search + url.hash;
  } catch (_) {
    // not a URL at all
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
  "lineage.confirm": {},
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
    const privateFields = (form.dataset.private || "").split(",").filter(Boolean);
    const sealed = await sealStatement(newStatement(kind, fields), privateFields);
    const { envelope, payload } = await signStatement(key, sealed.statement);
    const id = await statementId(payload);
    const receipt = await postJson(endpoint, canonicalJson({ envelope, openings: sealed.openings }));
    status.dataset.index = String(receipt?.index ?? "");
    status.dataset.id = id;
    try {
      await verifyOnPage(receipt);
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

/** Enhance the page: wire sign-in and actions, check every receipt against the pinned key. */
export function start() {
  enhanceSignIn();
  enhanceActions();
  return refreshTrust();
}

/** Resolves when the page's receipts are checked (for tests and for scripts that wait). */
export const ready = new Promise((resolve) => {
  const go = () => start().then(resolve, resolve);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go);
  else go();
});
