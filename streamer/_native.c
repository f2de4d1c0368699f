/* Compiled twin of `streamer.wire.records_body` (the pure version there is the reference).

What it does: `records_body(prefix, entries)` writes a PutRecords body in one pass into one
buffer: `prefix`, then per entry `{"Data":"<base64>","PartitionKey":"<JSON-escaped key>"}`
(with `,"ExplicitHashKey":"<key>"` for an aggregate), then the closing brackets. The output is
byte for byte what the pure version builds (orjson's escaping: the short forms \b \t \n \f \r,
other control characters as \u00XX, `"` and `\` escaped, everything else as UTF-8).

An entry's three attributes are read through its type's own getters where the type has them
(a mypyc class: `Access`, looked up once per type and call), else by name, with the same result
as `getattr`; a class attribute that no instance can shadow (no `__dict__`, not a descriptor)
is read once.

Base64 runs 24 input bytes at a time with AVX2 where the CPU has it (checked once, at import;
`SIMD` names the path; STREAMER_NO_SIMD set in the environment turns it off), the rest
through a 12-bit table; both give binascii's bytes.

What it leaves out: everything else (decoding answers, signing, sending).
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *s_data, *s_partition_key, *s_explicit_hash_key;

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char HEX[] = "0123456789abcdef";

static const char OPEN_FIRST[] = "{\"Data\":\"";
static const char OPEN_NEXT[] = "},{\"Data\":\"";
static const char KEY[] = "\",\"PartitionKey\":\"";
static const char EHK[] = ",\"ExplicitHashKey\":\"";

#define LIT(s) (sizeof(s) - 1)

/* Records wait in their queues long enough to leave the caches: while the entries are read,
   an entry a few ahead is fetched, and each one's bytes (up to PREFETCH_BYTES: a longer record
   is read as a stream, which the hardware fetches ahead by itself) for the encoding pass. */
#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif
#define ENTRY_AHEAD 4
#define PREFETCH_BYTES 2048

static void prefetch_bytes(const char *p, Py_ssize_t n) {
    if (n > PREFETCH_BYTES) n = PREFETCH_BYTES;
    for (Py_ssize_t off = 0; off < n; off += 64) PREFETCH(p + off);
}

static char *put(char *out, const char *s, size_t n) {
    memcpy(out, s, n);
    return out + n;
}

static char PAIRS[4096 * 2]; /* the two base64 characters of each 12-bit value */

static void init_pairs(void) {
    for (int v = 0; v < 4096; v++) {
        PAIRS[2 * v] = B64[v >> 6];
        PAIRS[2 * v + 1] = B64[v & 63];
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define AVX2_PATH 1

/* Muła and Lemire's AVX2 encoding: each 128-bit lane takes 12 bytes, a shuffle puts every 3
   bytes in one 32-bit word as [b1 b0 b2 b1], two multiplies move the four 6-bit fields to
   their own bytes, and a 16-entry table adds each range's offset to its ASCII letter. Encodes
   whole 24-byte blocks while 28 bytes can be read (the second load reads 4 past the block);
   returns the input bytes it consumed, a multiple of 3. */
__attribute__((target("avx2"))) static Py_ssize_t base64_avx2(char *out, const unsigned char *in,
                                                               Py_ssize_t n) {
    const __m256i order = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
                                           1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    const __m256i offsets = _mm256_setr_epi8(
        'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
        '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0, 'a' - 26, '0' - 52, '0' - 52, '0' - 52,
        '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63,
        'A', 0, 0);
    Py_ssize_t i = 0;
    for (; i + 28 <= n; i += 24) {
        __m128i lo = _mm_loadu_si128((const __m128i *)(in + i));
        __m128i hi = _mm_loadu_si128((const __m128i *)(in + i + 12));
        __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        v = _mm256_shuffle_epi8(v, order);
        __m256i ac = _mm256_mulhi_epu16(_mm256_and_si256(v, _mm256_set1_epi32(0x0fc0fc00)),
                                        _mm256_set1_epi32(0x04000040));
        __m256i bd = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi32(0x003f03f0)),
                                        _mm256_set1_epi32(0x01000010));
        __m256i sextets = _mm256_or_si256(ac, bd);
        /* range: 0 for a-z, 1..10 digits, 11 '+', 12 '/', 13 A-Z */
        __m256i range = _mm256_subs_epu8(sextets, _mm256_set1_epi8(51));
        __m256i upper = _mm256_cmpgt_epi8(_mm256_set1_epi8(26), sextets);
        range = _mm256_or_si256(range, _mm256_and_si256(upper, _mm256_set1_epi8(13)));
        __m256i ascii = _mm256_add_epi8(_mm256_shuffle_epi8(offsets, range), sextets);
        _mm256_storeu_si256((__m256i *)(out + i / 3 * 4), ascii);
    }
    return i;
}
#endif

static int use_avx2; /* set once at import */

static char *base64(char *out, const unsigned char *in, Py_ssize_t n) {
    Py_ssize_t i = 0;
#ifdef AVX2_PATH
    if (use_avx2 && n >= 28) {
        i = base64_avx2(out, in, n);
        out += i / 3 * 4;
    }
#endif
    for (; i + 2 < n; i += 3) { /* 3 bytes: two 12-bit halves, two characters each */
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        memcpy(out, PAIRS + 2 * (v >> 12), 2);
        memcpy(out + 2, PAIRS + 2 * (v & 4095), 2);
        out += 4;
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
        out[0] = B64[v >> 18];
        out[1] = B64[(v >> 12) & 63];
        out[2] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        out[3] = '=';
        out += 4;
    }
    return out;
}

static Py_ssize_t escaped_size(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t size = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c < 0x20) {
            size += (c == '\b' || c == '\t' || c == '\n' || c == '\f' || c == '\r') ? 1 : 5;
        } else if (c == '"' || c == '\\') {
            size += 1;
        }
    }
    return size;
}

static char *escape(char *out, const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *out++ = (char)c;
            continue;
        }
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\b': *out++ = 'b'; break;
        case '\t': *out++ = 't'; break;
        case '\n': *out++ = 'n'; break;
        case '\f': *out++ = 'f'; break;
        case '\r': *out++ = 'r'; break;
        default:
            out = put(out, "u00", 3);
            *out++ = HEX[c >> 4];
            *out++ = HEX[c & 15];
        }
    }
    return out;
}

/* What one entry contributes, read once (new references in data, key, ehk). */
typedef struct {
    PyObject *data, *key, *ehk;
    const char *key_utf8, *ehk_utf8;
    Py_ssize_t key_len, ehk_len;
} Part;

static void release(Part *parts, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(parts[i].data);
        Py_XDECREF(parts[i].key);
        Py_XDECREF(parts[i].ehk);
    }
    PyMem_Free(parts);
}

/* How one type's attributes data, partition_key and explicit_hash_key are read: through its
   own getset getters (a descriptor of the type or a base), or a class attribute None that no
   instance can shadow (no __dict__, not a descriptor: an aggregate's explicit hash key on a
   plain entry), else by name. Only None is kept, immortal enough: a read by name may run Python
   code that rebinds a class attribute. */
#define N_ATTRS 3
typedef struct {
    PyTypeObject *type;
    getter get[N_ATTRS];
    void *closure[N_ATTRS];
    PyObject *fixed[N_ATTRS];
} Access;

static PyObject **attr_names[N_ATTRS] = {&s_data, &s_partition_key, &s_explicit_hash_key};

static void access_for(PyTypeObject *type, Access *a) {
    a->type = type;
    int generic = type->tp_getattro == PyObject_GenericGetAttr;
    for (int i = 0; i < N_ATTRS; i++) {
        a->get[i] = NULL;
        a->closure[i] = NULL;
        a->fixed[i] = NULL;
        if (!generic) continue;
        PyObject *d = _PyType_Lookup(type, *attr_names[i]);
        if (d == NULL) continue;
        if (Py_IS_TYPE(d, &PyGetSetDescr_Type) && ((PyGetSetDescrObject *)d)->d_getset->get &&
            PyType_IsSubtype(type, PyDescr_TYPE(d))) {
            a->get[i] = ((PyGetSetDescrObject *)d)->d_getset->get;
            a->closure[i] = ((PyGetSetDescrObject *)d)->d_getset->closure;
        } else if (d == Py_None && type->tp_dictoffset == 0) {
            a->fixed[i] = Py_None;
        }
    }
}

static PyObject *attr(PyObject *entry, const Access *a, int i) {
    if (a->get[i] != NULL) return a->get[i](entry, a->closure[i]);
    if (a->fixed[i] != NULL) return Py_NewRef(a->fixed[i]);
    return PyObject_GetAttr(entry, *attr_names[i]);
}

static int read_entry(PyObject *entry, Part *p, Access *a) {
    if (Py_TYPE(entry) != a->type) access_for(Py_TYPE(entry), a);
    p->data = attr(entry, a, 0);
    if (p->data == NULL) return -1;
    if (!PyBytes_Check(p->data)) {
        PyErr_Format(PyExc_TypeError, "entry data must be bytes, not %.100s",
                     Py_TYPE(p->data)->tp_name);
        return -1;
    }
    p->key = attr(entry, a, 1);
    if (p->key == NULL) return -1;
    if (!PyUnicode_Check(p->key)) {
        PyErr_Format(PyExc_TypeError, "partition key must be str, not %.100s",
                     Py_TYPE(p->key)->tp_name);
        return -1;
    }
    p->key_utf8 = PyUnicode_AsUTF8AndSize(p->key, &p->key_len);
    if (p->key_utf8 == NULL) return -1;
    p->ehk = attr(entry, a, 2);
    if (p->ehk == NULL) return -1;
    if (p->ehk == Py_None) {
        p->ehk_utf8 = NULL;
        p->ehk_len = 0;
        return 0;
    }
    if (!PyUnicode_Check(p->ehk)) {
        PyErr_Format(PyExc_TypeError, "explicit hash key must be str or None, not %.100s",
                     Py_TYPE(p->ehk)->tp_name);
        return -1;
    }
    p->ehk_utf8 = PyUnicode_AsUTF8AndSize(p->ehk, &p->ehk_len);
    return p->ehk_utf8 == NULL ? -1 : 0;
}

static PyObject *records_body(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "records_body(prefix, entries) takes 2 arguments");
        return NULL;
    }
    Py_buffer prefix;
    if (PyObject_GetBuffer(args[0], &prefix, PyBUF_SIMPLE) < 0) return NULL;
    /* a tuple of its own: a read by name may run code that changes the caller's list */
    PyObject *seq = PySequence_Tuple(args[1]);
    if (seq == NULL) {
        PyBuffer_Release(&prefix);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Part *parts = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Part));
    PyObject *out = NULL;
    if (parts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t size = prefix.len + (n ? 3 : 2);
    Access access = {NULL};
    for (Py_ssize_t i = 0; i < n; i++) {
        Part *p = &parts[i];
        if (i + ENTRY_AHEAD < n) PREFETCH(items[i + ENTRY_AHEAD]);
        if (read_entry(items[i], p, &access) < 0) goto done;
        Py_ssize_t data_len = PyBytes_GET_SIZE(p->data);
        prefetch_bytes(PyBytes_AS_STRING(p->data), data_len);
        size += (i ? LIT(OPEN_NEXT) : LIT(OPEN_FIRST)) + (data_len + 2) / 3 * 4 + LIT(KEY) +
                escaped_size((const unsigned char *)p->key_utf8, p->key_len) + 1;
        if (p->ehk_utf8 != NULL) size += LIT(EHK) + p->ehk_len + 1;
    }
    out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) goto done;
    char *w = put(PyBytes_AS_STRING(out), prefix.buf, (size_t)prefix.len);
    for (Py_ssize_t i = 0; i < n; i++) {
        Part *p = &parts[i];
        w = i ? put(w, OPEN_NEXT, LIT(OPEN_NEXT)) : put(w, OPEN_FIRST, LIT(OPEN_FIRST));
        w = base64(w, (const unsigned char *)PyBytes_AS_STRING(p->data),
                   PyBytes_GET_SIZE(p->data));
        w = put(w, KEY, LIT(KEY));
        w = escape(w, (const unsigned char *)p->key_utf8, p->key_len);
        *w++ = '"';
        if (p->ehk_utf8 != NULL) {
            w = put(w, EHK, LIT(EHK));
            w = put(w, p->ehk_utf8, (size_t)p->ehk_len);
            *w++ = '"';
        }
    }
    w = n ? put(w, "}]}", 3) : put(w, "]}", 2);
    if (w != PyBytes_AS_STRING(out) + size) {  /* cannot happen: the sizes above are exact */
        Py_CLEAR(out);
        PyErr_SetString(PyExc_SystemError, "records_body: size mismatch");
    }
done:
    if (parts != NULL) release(parts, n);
    Py_DECREF(seq);
    PyBuffer_Release(&prefix);
    return out;
}

static PyMethodDef methods[] = {
    {"records_body", (PyCFunction)(void (*)(void))records_body, METH_FASTCALL,
     "records_body(prefix, entries) -> bytes: the PutRecords body after `prefix`."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "streamer._native", "Compiled hot loops (see wire.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    s_data = PyUnicode_InternFromString("data");
    s_partition_key = PyUnicode_InternFromString("partition_key");
    s_explicit_hash_key = PyUnicode_InternFromString("explicit_hash_key");
    if (!s_data || !s_partition_key || !s_explicit_hash_key) return NULL;
    init_pairs();
#ifdef AVX2_PATH
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2") && getenv("STREAMER_NO_SIMD") == NULL;
#endif
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddStringConstant(m, "SIMD", use_avx2 ? "avx2" : "") < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
