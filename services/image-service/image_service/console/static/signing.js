/* AK/SK request signing (SDK-HMAC-SHA256) in the browser, the same computation as ims_shared/signing.py:
 *
 *   canonical_request = METHOD \n canonical_uri \n canonical_query \n canonical_headers \n signed_headers \n payload_hash
 *   string_to_sign    = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex(SHA256(canonical_request))
 *   Authorization     = "SDK-HMAC-SHA256 Access=<ak>, SignedHeaders=<h1;h2>, Signature=<hex(HMAC-SHA256(sk, string_to_sign))>"
 *
 * Hashes come from WebCrypto (crypto.subtle). Browsers offer it only on secure origins (https, localhost,
 * 127.0.0.1); elsewhere a plain implementation of SHA-256 and HMAC below takes over, with the same results.
 * Browsers do not let a page set Host, but they send it: it is signed as the URL's host.
 */
(function (global) {
  "use strict";

  const ALGORITHM = "SDK-HMAC-SHA256";
  const encoder = new TextEncoder();

  function hex(bytes) {
    return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function toBytes(value) {
    if (value === undefined || value === null) return new Uint8Array(0);
    return typeof value === "string" ? encoder.encode(value) : new Uint8Array(value);
  }

  // ---- SHA-256 and HMAC without WebCrypto (FIPS 180-4, RFC 2104) -------------------------------------------------
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
  ]);

  function plainSha256(data) {
    const bytes = toBytes(data);
    const length = bytes.length;
    const padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[length] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
    view.setUint32(padded.length - 4, (length << 3) >>> 0);
    const h = new Uint32Array([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]);
    const w = new Uint32Array(64);
    const rotr = (x, n) => (x >>> n) | (x << (32 - n));
    for (let offset = 0; offset < padded.length; offset += 64) {
      for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + 4 * i);
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
      }
      let [a, b, c, d, e, f, g, k] = h;
      for (let i = 0; i < 64; i++) {
        const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        k = g;
        g = f;
        f = e;
        e = (d + t1) >>> 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) >>> 0;
      }
      h[0] += a;
      h[1] += b;
      h[2] += c;
      h[3] += d;
      h[4] += e;
      h[5] += f;
      h[6] += g;
      h[7] += k;
    }
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    h.forEach((word, i) => outView.setUint32(4 * i, word));
    return out;
  }

  function plainHmacSha256(key, message) {
    let keyBytes = toBytes(key);
    if (keyBytes.length > 64) keyBytes = plainSha256(keyBytes);
    const block = new Uint8Array(64);
    block.set(keyBytes);
    const inner = new Uint8Array(64 + toBytes(message).length);
    const outer = new Uint8Array(64 + 32);
    for (let i = 0; i < 64; i++) {
      inner[i] = block[i] ^ 0x36;
      outer[i] = block[i] ^ 0x5c;
    }
    inner.set(toBytes(message), 64);
    outer.set(plainSha256(inner), 64);
    return plainSha256(outer);
  }

  const subtle = global.crypto && global.crypto.subtle;

  async function sha256Hex(data, { plain = false } = {}) {
    if (subtle && !plain) return hex(await subtle.digest("SHA-256", toBytes(data)));
    return hex(plainSha256(data));
  }

  async function hmacSha256Hex(key, message, { plain = false } = {}) {
    if (subtle && !plain) {
      const cryptoKey = await subtle.importKey("raw", toBytes(key), { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
      ]);
      return hex(await subtle.sign("HMAC", cryptoKey, toBytes(message)));
    }
    return hex(plainHmacSha256(key, message));
  }

  // ---- canonical forms --------------------------------------------------------------------------------------------
  /** Python's urllib.parse.quote(value, safe="~"): everything but A-Z a-z 0-9 - _ . ~ is percent-encoded. */
  function urlEncode(value) {
    return encodeURIComponent(value).replace(
      /[!'()*]/g,
      (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"),
    );
  }

  function unquote(value) {
    try {
      return decodeURIComponent(value);
    } catch (_) {
      return value;
    }
  }

  function canonicalUri(rawPath) {
    const path = unquote(rawPath)
      .split("/")
      .map((segment) => urlEncode(segment))
      .join("/");
    return path.endsWith("/") ? path : path + "/";
  }

  function compare(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
  }

  /** A query's key or value as the server reads it: form encoding, where "+" is a space. */
  function unquoteForm(value) {
    return unquote(value.replace(/\+/g, " "));
  }

  function canonicalQuery(rawQuery) {
    const pairs = [];
    for (const part of rawQuery.replace(/^\?/, "").split("&")) {
      if (!part) continue;
      const at = part.indexOf("=");
      const key = at === -1 ? part : part.slice(0, at);
      const value = at === -1 ? "" : part.slice(at + 1);
      pairs.push([unquoteForm(key), unquoteForm(value)]);
    }
    pairs.sort((x, y) => compare(x[0], y[0]) || compare(x[1], y[1]));
    return pairs.map(([k, v]) => `${urlEncode(k)}=${urlEncode(v)}`).join("&");
  }

  function sdkDate(now) {
    return now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  }

  /**
   * Sign a request. ``url`` is absolute; ``headers`` are the headers to send (Host is added from the URL);
   * ``body`` a string or bytes. Returns the headers to send, with X-Sdk-Date and Authorization, and without
   * Host (the browser sends it). Every header whose name has no underscore is signed, as the SDK does.
   */
  async function sign({ method, url, headers = {}, body = "", accessKey, secretKey, now = new Date(), plain = false }) {
    const target = new URL(url, global.location ? global.location.href : undefined);
    const all = { ...headers, Host: target.host };
    if (!Object.keys(all).some((name) => name.toLowerCase() === "x-sdk-date")) all["X-Sdk-Date"] = sdkDate(now);
    const lowered = {};
    for (const [name, value] of Object.entries(all)) {
      if (name.toLowerCase() !== "authorization") lowered[name.toLowerCase()] = String(value);
    }
    const signed = Object.keys(lowered)
      .filter((name) => !name.includes("_"))
      .sort();
    const canonicalHeaders = signed.map((name) => `${name}:${lowered[name].trim()}`).join("\n") + "\n";
    const bodyBytes = toBytes(body);
    const payloadHash = await sha256Hex(bodyBytes, { plain });
    const canonical = [
      method.toUpperCase(),
      canonicalUri(target.pathname),
      canonicalQuery(target.search),
      canonicalHeaders,
      signed.join(";"),
      payloadHash,
    ].join("\n");
    const date = lowered["x-sdk-date"];
    const stringToSign = `${ALGORITHM}\n${date}\n${await sha256Hex(canonical, { plain })}`;
    const signature = await hmacSha256Hex(secretKey, stringToSign, { plain });
    const out = {};
    for (const [name, value] of Object.entries(all)) {
      if (name.toLowerCase() !== "host" && name.toLowerCase() !== "authorization") out[name] = String(value);
    }
    out.Authorization = `${ALGORITHM} Access=${accessKey}, SignedHeaders=${signed.join(";")}, Signature=${signature}`;
    return out;
  }

  global.ImsSigning = { sign, sdkDate, canonicalUri, canonicalQuery, sha256Hex, hmacSha256Hex, urlEncode };
})(window);
