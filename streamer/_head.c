/* Compiled twin of `export.head_key`: the partition key's identity of a line that is its own
export record, found by one validating pass over the line's bytes without building an object.

What it does: `head_key(line, namespace)` reads `line` as JSON, as strictly as msgspec reads it
into `shapes.Head` (the whole line is checked: every skipped value, trailing characters), and
answers the id `export.head_key` answers (the first id of `namespace`, else the first id of
the first namespace that has one) when the line decodes as a `Head` whose `identityMap` holds an
id and whose `segmentMembership.ups` holds at least one segment, each only `lastQualificationTime`
(a string) and a known `status`. msgspec builds a dict, a list and a struct per identity and per
segment only to have them checked and dropped; this pass builds the key alone.

It answers None whenever it is not sure, and `export` then decodes the line with msgspec as
before (so every refusal keeps msgspec's reading and the exporter's wording): any `\u` escape;
an escape in a key it matches or in an id or a status; a field met twice where the reading keeps
the last (top level, `ups`, an identity's or a segment's own fields); a namespace met twice or
more than `MAX_NAMESPACES` namespaces; nesting deeper than `MAX_DEPTH` (msgspec's own limit is the
interpreter's recursion limit, so a caller already near that limit could see msgspec refuse a
line nested less deeply than this answers: not a case the exporter meets); and every line
msgspec refuses or `export` would not export as it is (no identity, no segment, a bad status).
So None never means "bad line", and an answer always is the pure reference's.

What it leaves out: UTF-8 (the exporter checks a line that is not ASCII first; strings here may
hold any byte from 0x80), the partition key's length and hashing, compacting, sizes.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define MAX_DEPTH 64      /* deeper nesting: not sure (msgspec's limit is the interpreter's) */
#define MAX_NAMESPACES 32 /* more namespaces in identityMap: not sure (duplicates are checked) */

typedef const unsigned char *Ptr;

typedef struct {
    Ptr p;
    Ptr end;
} Cur;

typedef struct {
    Ptr s;
    Py_ssize_t n;
    int escaped; /* holds an escape other than \u */
} Span;

#define NOT_SURE (-1)

static inline void skip_ws(Cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* A string (not sure of anything else): its content, past its closing quote. Escapes \" \\ \/ \b
   \f \n \r \t are read (and flagged), \u is not sure, others and a control character are malformed. */
static int read_string(Cur *c, Span *out) {
    Ptr end = c->end;
    if (c->p >= end || *c->p != '"') return NOT_SURE;
    Ptr p = c->p + 1;
    out->s = p;
    out->escaped = 0;
    for (;;) {
#if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8('"');
        const __m128i slash = _mm_set1_epi8('\\');
        const __m128i ctl = _mm_set1_epi8(0x1F);
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i hit = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)),
                _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)); /* v <= 0x1F, unsigned */
            int mask = _mm_movemask_epi8(hit);
            if (mask) {
                p += __builtin_ctz((unsigned)mask);
                goto found;
            }
            p += 16;
        }
#endif
        while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) p++;
#if defined(__SSE2__)
    found:
#endif
        if (p >= end || *p < 0x20) return NOT_SURE;
        if (*p == '"') {
            out->n = p - out->s;
            c->p = p + 1;
            return 0;
        }
        /* a backslash */
        if (p + 1 >= end) return NOT_SURE;
        switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            out->escaped = 1;
            p += 2;
            continue;
        default: /* \u (msgspec checks surrogates) and bad escapes */
            return NOT_SURE;
        }
    }
}

static int skip_value(Cur *c, int depth);

static int skip_number(Cur *c) {
    Ptr p = c->p;
    Ptr end = c->end;
    if (p < end && *p == '-') p++;
    if (p >= end) return NOT_SURE;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        return NOT_SURE;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return NOT_SURE;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return NOT_SURE;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    c->p = p; /* what follows is checked by the caller: a digit after "0" is malformed there */
    return 0;
}

static int skip_word(Cur *c, const char *word, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return NOT_SURE;
    c->p += n;
    return 0;
}

/* After a member or an element: past ',' and whitespace to the next one, or past the closing
   `close` ('}' or ']'): 1 at the end. */
static int next_item(Cur *c, unsigned char close) {
    skip_ws(c);
    if (c->p >= c->end) return NOT_SURE;
    if (*c->p == close) {
        c->p++;
        return 1;
    }
    if (*c->p != ',') return NOT_SURE;
    c->p++;
    skip_ws(c);
    return 0;
}

/* At `open` ('{' or '['): past it and its whitespace; 1 if the container is empty (then past
   its end), NOT_SURE if it is not there. */
static int open_container(Cur *c, unsigned char open, unsigned char close) {
    if (c->p >= c->end || *c->p != open) return NOT_SURE;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    return 0;
}

static inline int open_object(Cur *c) { return open_container(c, '{', '}'); }
static inline int open_array(Cur *c) { return open_container(c, '[', ']'); }

/* At a member: its key, and past the ':' and whitespace before its value. */
static int read_key(Cur *c, Span *key) {
    if (read_string(c, key) < 0) return NOT_SURE;
    skip_ws(c);
    if (c->p >= c->end || *c->p != ':') return NOT_SURE;
    c->p++;
    skip_ws(c);
    return 0;
}

static int skip_object(Cur *c, int depth) {
    int state = open_object(c);
    if (state) return state < 0 ? NOT_SURE : 0;
    for (;;) {
        Span key;
        if (read_key(c, &key) < 0 || skip_value(c, depth) < 0) return NOT_SURE;
        state = next_item(c, '}');
        if (state) return state < 0 ? NOT_SURE : 0;
    }
}

static int skip_array(Cur *c, int depth) {
    int state = open_array(c);
    if (state) return state < 0 ? NOT_SURE : 0;
    for (;;) {
        if (skip_value(c, depth) < 0) return NOT_SURE;
        state = next_item(c, ']');
        if (state) return state < 0 ? NOT_SURE : 0;
    }
}

/* Any JSON value, checked and skipped; `depth` counts the containers it is in. */
static int skip_value(Cur *c, int depth) {
    if (c->p >= c->end) return NOT_SURE;
    Span ignored;
    switch (*c->p) {
    case '"':
        return read_string(c, &ignored);
    case '{':
        return depth >= MAX_DEPTH ? NOT_SURE : skip_object(c, depth + 1);
    case '[':
        return depth >= MAX_DEPTH ? NOT_SURE : skip_array(c, depth + 1);
    case 't':
        return skip_word(c, "true", 4);
    case 'f':
        return skip_word(c, "false", 5);
    case 'n':
        return skip_word(c, "null", 4);
    default:
        return skip_number(c);
    }
}

static inline int key_is(const Span *key, const char *name, Py_ssize_t n) {
    return !key->escaped && key->n == n && memcmp(key->s, name, (size_t)n) == 0;
}

/* An identity object: its "id", a non-empty string without escapes, met once; the rest skipped. */
static int read_identity(Cur *c, int depth, Span *id) {
    int state = open_object(c);
    if (state) return NOT_SURE; /* {} has no id */
    int seen = 0;
    for (;;) {
        Span key;
        if (read_key(c, &key) < 0 || key.escaped) return NOT_SURE;
        if (key_is(&key, "id", 2)) {
            if (seen || read_string(c, id) < 0 || id->escaped || id->n == 0) return NOT_SURE;
            seen = 1;
        } else if (skip_value(c, depth) < 0) {
            return NOT_SURE;
        }
        state = next_item(c, '}');
        if (state) return state < 0 || !seen ? NOT_SURE : 0;
    }
}

/* identityMap: an object of arrays of identities; the key's id as `export.head_key` picks it. */
static int read_identity_map(Cur *c, Ptr ns, Py_ssize_t ns_n, Span *chosen) {
    Span names[MAX_NAMESPACES];
    int count = 0;
    int have = 0; /* `chosen` holds an id: `ns`'s first, else the first namespace's with one */
    if (open_object(c)) return NOT_SURE; /* null, not an object, or {}: no identity */
    for (;;) {
        Span name;
        if (read_key(c, &name) < 0 || name.escaped || count == MAX_NAMESPACES) return NOT_SURE;
        for (int i = 0; i < count; i++)
            if (names[i].n == name.n && memcmp(names[i].s, name.s, (size_t)name.n) == 0)
                return NOT_SURE; /* the last would win: not sure */
        names[count++] = name;
        int own = name.n == ns_n && memcmp(name.s, ns, (size_t)ns_n) == 0;
        int state = open_array(c);
        if (state < 0) return NOT_SURE;
        if (!state) { /* not empty */
            for (int first = 1;; first = 0) {
                Span id;
                if (read_identity(c, 4, &id) < 0) return NOT_SURE;
                if (first && (own || !have)) { /* `ns`'s own first id wins over any other */
                    *chosen = id;
                    have = 1;
                }
                state = next_item(c, ']');
                if (state < 0) return NOT_SURE;
                if (state) break;
            }
        }
        state = next_item(c, '}');
        if (state < 0) return NOT_SURE;
        if (state) return have ? 0 : NOT_SURE;
    }
}

static int is_status(const Span *s) {
    if (s->escaped) return 0;
    switch (s->n) {
    case 6:
        return memcmp(s->s, "exited", 6) == 0;
    case 8:
        return memcmp(s->s, "realized", 8) == 0 || memcmp(s->s, "existing", 8) == 0;
    default:
        return 0;
    }
}

/* One segment's qualification: exactly lastQualificationTime (a string) and a known status. */
static int read_qualification(Cur *c) {
    if (open_object(c)) return NOT_SURE; /* {} lacks both */
    int time_seen = 0, status_seen = 0;
    for (;;) {
        Span key, value;
        if (read_key(c, &key) < 0 || read_string(c, &value) < 0) return NOT_SURE;
        if (key_is(&key, "lastQualificationTime", 21)) {
            if (time_seen++) return NOT_SURE;
        } else if (key_is(&key, "status", 6)) {
            if (status_seen++ || !is_status(&value)) return NOT_SURE;
        } else {
            return NOT_SURE; /* another field: not the export's own shape */
        }
        int state = next_item(c, '}');
        if (state < 0) return NOT_SURE;
        if (state) return time_seen && status_seen ? 0 : NOT_SURE;
    }
}

/* segmentMembership: {"ups": {...}} with at least one segment, nothing else. */
static int read_membership(Cur *c) {
    if (open_object(c)) return NOT_SURE; /* null, not an object, or {} (no segment) */
    int ups_seen = 0;
    for (;;) {
        Span key;
        if (read_key(c, &key) < 0 || !key_is(&key, "ups", 3) || ups_seen++) return NOT_SURE;
        if (open_object(c)) return NOT_SURE; /* null, not an object, or no segment */
        for (;;) {
            Span segment;
            if (read_key(c, &segment) < 0 || read_qualification(c) < 0) return NOT_SURE;
            int state = next_item(c, '}');
            if (state < 0) return NOT_SURE;
            if (state) break;
        }
        int state = next_item(c, '}');
        if (state < 0) return NOT_SURE;
        if (state) return 0;
    }
}

static PyObject *head_key(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_CheckExact(args[0]) || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "head_key(line, namespace) takes bytes and a str");
        return NULL;
    }
    Py_ssize_t ns_n;
    const char *ns = PyUnicode_AsUTF8AndSize(args[1], &ns_n);
    if (ns == NULL) { /* a lone surrogate: no key of a UTF-8 line is that namespace */
        PyErr_Clear();
        ns = "";
        ns_n = -1;
    }
    Cur c = {(Ptr)PyBytes_AS_STRING(args[0]), (Ptr)PyBytes_AS_STRING(args[0]) + PyBytes_GET_SIZE(args[0])};
    Span id = {NULL, 0, 0};
    int identities = 0, membership = 0;
    skip_ws(&c);
    if (open_object(&c)) Py_RETURN_NONE; /* not an object, or {} */
    for (;;) {
        Span key;
        if (read_key(&c, &key) < 0 || key.escaped) Py_RETURN_NONE;
        if (key_is(&key, "identityMap", 11)) {
            if (identities++ || read_identity_map(&c, (Ptr)ns, ns_n, &id) < 0) Py_RETURN_NONE;
        } else if (key_is(&key, "segmentMembership", 17)) {
            if (membership++ || read_membership(&c) < 0) Py_RETURN_NONE;
        } else if (skip_value(&c, 1) < 0) {
            Py_RETURN_NONE;
        }
        int state = next_item(&c, '}');
        if (state < 0) Py_RETURN_NONE;
        if (state) break;
    }
    skip_ws(&c);
    if (c.p != c.end || !identities || !membership) Py_RETURN_NONE;
    for (Py_ssize_t i = 0; i < id.n; i++) {
        if (id.s[i] >= 0x80) { /* not ASCII: UTF-8, checked by the exporter before */
            PyObject *text = PyUnicode_DecodeUTF8((const char *)id.s, id.n, NULL);
            if (text == NULL) {
                PyErr_Clear();
                Py_RETURN_NONE;
            }
            return text;
        }
    }
    PyObject *text = PyUnicode_New(id.n, 127);
    if (text == NULL) return NULL;
    memcpy(PyUnicode_DATA(text), id.s, (size_t)id.n);
    return text;
}

static PyMethodDef methods[] = {
    {"head_key", (PyCFunction)(void (*)(void))head_key, METH_FASTCALL,
     "head_key(line, namespace): the partition key's identity of a line that is its own export "
     "record, or None when not sure (see export.head_key)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_head",
    "Compiled twin of export.head_key: one validating pass, no objects but the key.", -1, methods,
};

PyMODINIT_FUNC PyInit__head(void) { return PyModule_Create(&module); }
