/* Compiled twins of two byte scans over input lines (the pure versions are the references).

What it does:
- `split_lines(head, data)`: `(head + data).split(b"\n")` and the length of the longest part
  but the last (0 when there is one part), the twin of `sources.lines.split_lines`. It finds
  newlines with memchr (CPython's `bytes.split` compares byte by byte) and never builds
  `head + data`: only the first part holds `head`.
- `shape(line)`: what the exporter asks of every line, in one pass (16 bytes a step with SSE2):
  1 if a byte is not ASCII, plus 2 if it holds a line feed, a tab, `": "` or `", "` (needs
  compacting); the twin of `export.shape` (`isascii` and a two-byte `in` on bytes cost as much
  as a decoding of the line).

What it leaves out: the line limit and `Overlong` (lines.py), compacting (msgspec), and every
other byte the line holds.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static PyObject *split(PyObject *head_obj, PyObject *data_obj);

static PyObject *split_lines(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "split_lines(head, data) takes two bytes");
        return NULL;
    }
    if (memchr(PyBytes_AS_STRING(args[0]), '\n', (size_t)PyBytes_GET_SIZE(args[0])) == NULL)
        return split(args[0], args[1]);
    /* a head holding a newline (never the framing's carried tail): split the joined bytes */
    PyObject *whole = Py_NewRef(args[0]);
    PyBytes_Concat(&whole, args[1]);
    if (whole == NULL) return NULL;
    PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
    PyObject *out = empty == NULL ? NULL : split(empty, whole);
    Py_XDECREF(empty);
    Py_DECREF(whole);
    return out;
}

/* The parts of head + data, for a head without a newline. */
static PyObject *split(PyObject *head_obj, PyObject *data_obj) {
    const char *head = PyBytes_AS_STRING(head_obj);
    Py_ssize_t head_len = PyBytes_GET_SIZE(head_obj);
    const char *data = PyBytes_AS_STRING(data_obj);
    Py_ssize_t data_len = PyBytes_GET_SIZE(data_obj);
    const char *end = data + data_len;
    PyObject *parts = PyList_New(0);
    if (parts == NULL) return NULL;
    Py_ssize_t longest = 0;
    const char *start = data; /* where the current part starts in data */
    int first = 1;            /* the current part begins with head */
    for (;;) {
        const char *nl = memchr(start, '\n', (size_t)(end - start));
        const char *stop = nl == NULL ? end : nl;
        Py_ssize_t len = (stop - start) + (first ? head_len : 0);
        PyObject *part;
        if (first && head_len) { /* head, then data up to the newline */
            part = PyBytes_FromStringAndSize(NULL, len);
            if (part != NULL) {
                memcpy(PyBytes_AS_STRING(part), head, (size_t)head_len);
                memcpy(PyBytes_AS_STRING(part) + head_len, start, (size_t)(stop - start));
            }
        } else if (first && nl == NULL) { /* no head, no newline: data itself */
            part = Py_NewRef(data_obj);
        } else {
            part = PyBytes_FromStringAndSize(start, stop - start);
        }
        if (part == NULL || PyList_Append(parts, part) < 0) {
            Py_XDECREF(part);
            Py_DECREF(parts);
            return NULL;
        }
        Py_DECREF(part);
        if (nl == NULL) break;
        if (len > longest) longest = len;
        start = nl + 1;
        first = 0;
    }
    return Py_BuildValue("(Nn)", parts, longest);
}

/* Whether a space in s[0:n] follows a colon or a comma. */
static int spaced_separator(const char *s, size_t n) {
    const char *end = s + n;
    const char *p = s;
    while ((p = memchr(p, ' ', (size_t)(end - p))) != NULL) {
        if (p > s && (p[-1] == ':' || p[-1] == ',')) return 1;
        p++;
    }
    return 0;
}

static PyObject *shape(PyObject *Py_UNUSED(module), PyObject *line) {
    if (!PyBytes_CheckExact(line)) {
        PyErr_SetString(PyExc_TypeError, "shape(line) takes bytes");
        return NULL;
    }
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(line);
    size_t n = (size_t)PyBytes_GET_SIZE(line);
    size_t i = 0;
    int high = 0, breaks = 0, spaces = 0;
#if defined(__SSE2__)
    const __m128i feed = _mm_set1_epi8('\n'), tab = _mm_set1_epi8('\t'), space = _mm_set1_epi8(' ');
    __m128i any_high = _mm_setzero_si128(), any_break = any_high, any_space = any_high;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        any_high = _mm_or_si128(any_high, v); /* the top bit of each byte */
        any_break = _mm_or_si128(
            any_break, _mm_or_si128(_mm_cmpeq_epi8(v, feed), _mm_cmpeq_epi8(v, tab)));
        any_space = _mm_or_si128(any_space, _mm_cmpeq_epi8(v, space));
    }
    high = _mm_movemask_epi8(any_high);
    breaks = _mm_movemask_epi8(any_break);
    spaces = _mm_movemask_epi8(any_space);
#endif
    for (; i < n; i++) {
        unsigned char c = s[i];
        high |= c & 0x80;
        breaks |= c == '\n' || c == '\t';
        spaces |= c == ' ';
    }
    long flags = high ? 1 : 0;
    if (breaks || (spaces && spaced_separator((const char *)s, n))) flags |= 2;
    return PyLong_FromLong(flags);
}

static PyMethodDef methods[] = {
    {"split_lines", (PyCFunction)(void (*)(void))split_lines, METH_FASTCALL,
     "split_lines(head, data) -> (parts, longest): (head + data).split(b'\\n') and the length "
     "of the longest part but the last."},
    {"shape", shape, METH_O,
     "shape(line) -> int: 1 if a byte is not ASCII, plus 2 if it holds a line feed, a tab, "
     "': ' or ', '."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "streamer._scan", "Compiled byte scans of input lines.", -1, methods,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
