/* Compiled twin of `streamer.record.hash_key` (the pure version there is the reference).

What it does: `hash_key(key)` is Kinesis's routing value of a partition key: the MD5 of its
UTF-8 bytes read as a big-endian 128-bit integer (an ASCII str is its own UTF-8: nothing is
encoded; a non-ASCII key keeps its UTF-8, at most 1 KiB, cached on the str while it lives).
MD5 as RFC 1321 gives it, computed on the stack (a partition key is at most 256 characters, so
at most 1 KiB of UTF-8: a few 64-byte blocks); CPython's `_md5` spends most of its 230 ns per
key making, copying and finishing a hash object and a digest before `int.from_bytes` reads it,
after `str.encode` made the bytes.

What it leaves out: MD5 of anything but a str, and every use of MD5 as a hash of integrity or
security (this is a routing value).
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static const uint32_t K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391,
};
static inline uint32_t rotl(uint32_t x, unsigned n) { return (x << n) | (x >> (32 - n)); }

static inline uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define F1(b, c, d) (((b) & (c)) | (~(b) & (d)))
#define F2(b, c, d) (((d) & (b)) | (~(d) & (c)))
#define F3(b, c, d) ((b) ^ (c) ^ (d))
#define F4(b, c, d) ((c) ^ ((b) | ~(d)))
/* One step i of round F: a = b + rotl(a + F(b, c, d) + K[i] + m[g], s). */
#define STEP(F, a, b, c, d, g, s, i) (a) = (b) + rotl((a) + F((b), (c), (d)) + K[i] + m[g], (s))

/* One 64-byte block into the state h[4]: the four rounds of sixteen steps, the message word
   and the shift of each step as RFC 1321 lists them. */
static void compress(uint32_t h[4], const unsigned char *block) {
    uint32_t m[16];
    for (int i = 0; i < 16; i++) m[i] = le32(block + 4 * i);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 16; i += 4) {
        STEP(F1, a, b, c, d, i, 7, i);
        STEP(F1, d, a, b, c, i + 1, 12, i + 1);
        STEP(F1, c, d, a, b, i + 2, 17, i + 2);
        STEP(F1, b, c, d, a, i + 3, 22, i + 3);
    }
    for (int i = 16; i < 32; i += 4) {
        STEP(F2, a, b, c, d, (5 * i + 1) & 15, 5, i);
        STEP(F2, d, a, b, c, (5 * i + 6) & 15, 9, i + 1);
        STEP(F2, c, d, a, b, (5 * i + 11) & 15, 14, i + 2);
        STEP(F2, b, c, d, a, (5 * i + 16) & 15, 20, i + 3);
    }
    for (int i = 32; i < 48; i += 4) {
        STEP(F3, a, b, c, d, (3 * i + 5) & 15, 4, i);
        STEP(F3, d, a, b, c, (3 * i + 8) & 15, 11, i + 1);
        STEP(F3, c, d, a, b, (3 * i + 11) & 15, 16, i + 2);
        STEP(F3, b, c, d, a, (3 * i + 14) & 15, 23, i + 3);
    }
    for (int i = 48; i < 64; i += 4) {
        STEP(F4, a, b, c, d, (7 * i) & 15, 6, i);
        STEP(F4, d, a, b, c, (7 * i + 7) & 15, 10, i + 1);
        STEP(F4, c, d, a, b, (7 * i + 14) & 15, 15, i + 2);
        STEP(F4, b, c, d, a, (7 * i + 21) & 15, 21, i + 3);
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

static void md5(const unsigned char *data, size_t len, unsigned char digest[16]) {
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    size_t whole = len & ~(size_t)63;
    for (size_t at = 0; at < whole; at += 64) compress(h, data + at);
    unsigned char tail[128] = {0}; /* the last bytes, 0x80, zeros and the bit length */
    size_t rest = len - whole;
    memcpy(tail, data + whole, rest);
    tail[rest] = 0x80;
    size_t blocks = rest < 56 ? 1 : 2;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) tail[blocks * 64 - 8 + i] = (unsigned char)(bits >> (8 * i));
    for (size_t i = 0; i < blocks; i++) compress(h, tail + 64 * i);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) digest[4 * i + j] = (unsigned char)(h[i] >> (8 * j));
}

static PyObject *hash_key(PyObject *Py_UNUSED(module), PyObject *key) {
    if (!PyUnicode_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "hash_key(key) takes the partition key as str");
        return NULL;
    }
    Py_ssize_t len;
    const char *utf8 = PyUnicode_AsUTF8AndSize(key, &len); /* an ASCII str's own bytes */
    if (utf8 == NULL) return NULL; /* a lone surrogate: UnicodeEncodeError, as str.encode */
    unsigned char digest[16];
    md5((const unsigned char *)utf8, (size_t)len, digest);
#if PY_VERSION_HEX >= 0x030D0000
    return PyLong_FromUnsignedNativeBytes(digest, 16, Py_ASNATIVEBYTES_BIG_ENDIAN);
#else
    return _PyLong_FromByteArray(digest, 16, 0, 0); /* big-endian, unsigned */
#endif
}

static PyMethodDef methods[] = {
    {"hash_key", hash_key, METH_O,
     "hash_key(key: str) -> int: MD5 of the key's UTF-8 as a big-endian 128-bit integer."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "streamer._hashkey", "Kinesis hash keys of partition keys.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__hashkey(void) { return PyModule_Create(&module); }
