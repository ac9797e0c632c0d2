// A stand-in for the md5.js a Mikrotik router serves from its hotspot
// directory: hexMD5(s), the MD5 (RFC 1321) of a string of 8-bit characters
// (the router's octal-escaped chap-id and chap-challenge become such
// characters in a JavaScript string literal), as lower-case hex.
function hexMD5(s) {
  var K = [], S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21], i;
  for (i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0;
  var n = s.length, bytes = [], words = [];
  for (i = 0; i < n; i++) bytes.push(s.charCodeAt(i) & 255);
  bytes.push(0x80);
  while (bytes.length % 64 != 56) bytes.push(0);
  var bits = n * 8;
  for (i = 0; i < 8; i++) bytes.push(i < 4 ? (bits >>> (8 * i)) & 255 : 0);
  for (i = 0; i < bytes.length; i += 4)
    words.push(bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  var h = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476];
  for (var blk = 0; blk < words.length; blk += 16) {
    var a = h[0], b = h[1], c = h[2], d = h[3];
    for (i = 0; i < 64; i++) {
      var f, g, r = i >> 4;
      if (r == 0) { f = (b & c) | (~b & d); g = i; }
      else if (r == 1) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
      else if (r == 2) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
      else { f = c ^ (b | ~d); g = (7 * i) % 16; }
      var x = (a + f + K[i] + words[blk + g]) | 0, sh = S[r * 4 + (i % 4)];
      a = d; d = c; c = b;
      b = (b + ((x << sh) | (x >>> (32 - sh)))) | 0;
    }
    h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
  }
  var out = '';
  for (i = 0; i < 16; i++) {
    var v = (h[i >> 2] >>> ((i % 4) * 8)) & 255;
    out += (v < 16 ? '0' : '') + v.toString(16);
  }
  return out;
}
