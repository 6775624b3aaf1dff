/* The run of plain OpenAI chat stream events at the start of an upstream read, proved
 * plain and renamed in one pass over its bytes.
 *
 * gateway/proxy/adapters/openai_rename.py proves the same with bytes methods, one pass
 * over the read per fact (about seven passes and a replace: 100 us on a 54 KB read of 200
 * events, against 10 us here with SSE2 and 23 us without; docs/performance.md, "One pass
 * over a stream's events").
 * It is only ever stricter than that proof: every run it takes, the Python proof takes
 * with the same bytes and count (tests/test_sse_runs.py).
 *
 * An event is plain when it is one line `data: {...}` followed by a blank line, ends in
 * one of the two tails OpenAI writes on a chunk without a finish reason (the same tail for
 * every event of a run), and, before that tail, names no finish reason, no error and no
 * usage (unless the tail ends in `"usage":null}`, which every reader takes as the event's
 * usage: the last of a repeated key), holds no CR, and names `"choices":[{` and the
 * upstream's model exactly once each.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define LIT(s) (s), (Py_ssize_t)(sizeof(s) - 1)

static const char TAIL_USAGE[] = "\"finish_reason\":null}],\"usage\":null}";
static const char TAIL_PLAIN[] = "\"finish_reason\":null}]}";
static const char HEAD[] = "data: {";

/* Whether s[i:stop] starts with the n bytes of word. */
static inline int
starts(const char *s, Py_ssize_t i, Py_ssize_t stop, const char *word, Py_ssize_t n)
{
    return stop - i >= n && memcmp(s + i, word, (size_t)n) == 0;
}

/* Whether the event line s[start:stop] is long enough for the head and the n-byte tail,
 * and ends in that tail. */
static inline int
ends(const char *s, Py_ssize_t start, Py_ssize_t stop, const char *tail, Py_ssize_t n)
{
    return stop - start >= (Py_ssize_t)(sizeof(HEAD) - 1) + n
           && memcmp(s + stop - n, tail, (size_t)n) == 0;
}

/* Which tail the event line s[start:stop] ends in: 1 TAIL_USAGE, 0 TAIL_PLAIN, -1 none. */
static int
tail_of(const char *s, Py_ssize_t start, Py_ssize_t stop)
{
    if (ends(s, start, stop, LIT(TAIL_USAGE))) {
        return 1;
    }
    return ends(s, start, stop, LIT(TAIL_PLAIN)) ? 0 : -1;
}

/* What one event has shown so far: how many `"choices":[{` and where the model is named. */
struct seen {
    int choices;
    Py_ssize_t model_at;
};

/* Looks at the quote s[i] of an event line ending at stop: whether the key it starts, if
 * any, leaves the event plain (1) or not (0). */
static inline int
key_at(const char *s, Py_ssize_t i, Py_ssize_t stop, int usage_allowed, const char *needle,
       Py_ssize_t needle_n, struct seen *seen)
{
    switch (i + 1 < stop ? s[i + 1] : 0) {
    case 'f':
        return !starts(s, i, stop, LIT("\"finish_reason\""));
    case 'e':
        return !starts(s, i, stop, LIT("\"error\""));
    case 'u':
        return usage_allowed || !starts(s, i, stop, LIT("\"usage\""));
    case 'c':
        return !(starts(s, i, stop, LIT("\"choices\":[{")) && ++seen->choices > 1);
    case 'm':
        if (starts(s, i, stop, needle, needle_n)) {
            if (seen->model_at >= 0) {
                return 0;
            }
            seen->model_at = i;
        }
        return 1;
    }
    return 1;
}

/* Where the upstream's model is named in the plain event s[start:stop] (its line, without
 * the line break) ending in the tail `usage_allowed` names (tail_of), or -1 when the
 * event is not plain.
 *
 * Keys are matched where they start, in the body before the tail; a match may reach into
 * the tail. With SSE2 (every x86-64), sixteen bytes are looked at a time: a CR anywhere
 * ends the run, and only a quote followed by the first letter of a key looked for is
 * looked at further (about 9 of an event's 40 quotes); the bytes too few for a block,
 * and every byte without SSE2, one at a time, with the same outcome. */
static Py_ssize_t
plain_event(const char *s, Py_ssize_t start, Py_ssize_t stop, int usage_allowed,
            const char *needle, Py_ssize_t needle_n)
{
    Py_ssize_t body_end = stop - (Py_ssize_t)(usage_allowed ? sizeof(TAIL_USAGE) - 1
                                                            : sizeof(TAIL_PLAIN) - 1);
    struct seen seen = {0, -1};
    Py_ssize_t i = start;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), cr = _mm_set1_epi8('\r');
    const __m128i f = _mm_set1_epi8('f'), e = _mm_set1_epi8('e'), u = _mm_set1_epi8('u');
    const __m128i c = _mm_set1_epi8('c'), m = _mm_set1_epi8('m');
    /* A block is s[i:i+16] and the byte after each of its bytes, s[i+1:i+17]: all before
     * body_end. */
    for (; i + 17 <= body_end; i += 16) {
        __m128i bytes = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i next = _mm_loadu_si128((const __m128i *)(s + i + 1));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, cr))) {
            return -1;
        }
        unsigned quotes = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, quote));
        if (!quotes) {
            continue;
        }
        __m128i letters = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(next, f), _mm_cmpeq_epi8(next, e)),
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(next, u), _mm_cmpeq_epi8(next, c)),
                         _mm_cmpeq_epi8(next, m)));
        unsigned keys = quotes & (unsigned)_mm_movemask_epi8(letters);
        while (keys) {
            if (!key_at(s, i + __builtin_ctz(keys), stop, usage_allowed, needle, needle_n,
                        &seen)) {
                return -1;
            }
            keys &= keys - 1;
        }
    }
#endif
    for (; i < body_end; i++) {
        if (s[i] == '\r') {
            return -1;
        }
        if (s[i] == '"' && !key_at(s, i, stop, usage_allowed, needle, needle_n, &seen)) {
            return -1;
        }
    }
    return seen.choices == 1 ? seen.model_at : -1;
}

PyDoc_STRVAR(openai_run_doc,
"openai_run(buffer, needle, replacement) -> (renamed, stop, count)\n\n"
"The plain events at the start of `buffer`: `count` of them, ending at byte `stop`, and\n"
"`buffer[:stop]` with each event's `needle` (`\"model\":` and the upstream's name)\n"
"replaced by `replacement`. (None, 0, 0) when the first event is not plain.");

static PyObject *
openai_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])
        || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "openai_run(buffer, needle, replacement): bytes");
        return NULL;
    }
    const char *s = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    const char *needle = PyBytes_AS_STRING(args[1]);
    Py_ssize_t needle_n = PyBytes_GET_SIZE(args[1]);
    const char *replacement = PyBytes_AS_STRING(args[2]);
    Py_ssize_t replacement_n = PyBytes_GET_SIZE(args[2]);
    if (needle_n < 2 || needle[0] != '"' || needle[1] != 'm') {
        PyErr_SetString(PyExc_ValueError, "the needle must start with \"m");
        return NULL;
    }
    int same = needle_n == replacement_n && memcmp(needle, replacement, (size_t)needle_n) == 0;

    /* Where each event of the run names the model: on the stack for a read of up to
     * STACK_EVENTS events, on the heap past that. The renamed bytes are then allocated
     * at their size: a block shrunk after writing may stay in its larger size class. */
    enum { STACK_EVENTS = 256 };
    Py_ssize_t on_stack[STACK_EVENTS];
    Py_ssize_t *models = on_stack;
    Py_ssize_t room = STACK_EVENTS;
    Py_ssize_t pos = 0, count = 0;
    int run_tail = -1;
    while (starts(s, pos, n, LIT(HEAD))) {
        const char *nl = memchr(s + pos, '\n', (size_t)(n - pos));
        if (nl == NULL) {
            break;
        }
        Py_ssize_t line_end = nl - s;
        if (line_end + 1 >= n || s[line_end + 1] != '\n') {
            break;
        }
        /* One tail for the whole run, as the counted proof in Python sees a run. */
        int tail = tail_of(s, pos, line_end);
        if (tail < 0 || (count && tail != run_tail)) {
            break;
        }
        run_tail = tail;
        Py_ssize_t model_at = plain_event(s, pos, line_end, tail, needle, needle_n);
        if (model_at < 0) {
            break;
        }
        if (count == room) {
            size_t size = sizeof(Py_ssize_t) * (size_t)room * 2;
            Py_ssize_t *grown = models == on_stack ? PyMem_Malloc(size)
                                                   : PyMem_Realloc(models, size);
            if (grown == NULL) {
                if (models != on_stack) {
                    PyMem_Free(models);  /* a failed resize leaves the block as it was */
                }
                return PyErr_NoMemory();
            }
            if (models == on_stack) {
                memcpy(grown, on_stack, sizeof(on_stack));
            }
            models = grown;
            room *= 2;
        }
        models[count++] = model_at;
        pos = line_end + 2;
    }
    PyObject *out;
    if (count == 0) {
        out = NULL;
    }
    else if (same) {
        out = pos == n ? Py_NewRef(args[0]) : PyBytes_FromStringAndSize(s, pos);
    }
    else {
        out = PyBytes_FromStringAndSize(NULL, pos + count * (replacement_n - needle_n));
        if (out != NULL) {
            char *w = PyBytes_AS_STRING(out);
            Py_ssize_t from = 0;
            for (Py_ssize_t i = 0; i < count; i++) {
                memcpy(w, s + from, (size_t)(models[i] - from));
                w += models[i] - from;
                memcpy(w, replacement, (size_t)replacement_n);
                w += replacement_n;
                from = models[i] + needle_n;
            }
            memcpy(w, s + from, (size_t)(pos - from));
        }
    }
    if (models != on_stack) {
        PyMem_Free(models);
    }
    if (count == 0) {
        return Py_BuildValue("(Onn)", Py_None, (Py_ssize_t)0, (Py_ssize_t)0);
    }
    if (out == NULL) {
        return NULL;
    }
    return Py_BuildValue("(Nnn)", out, pos, count);
}

static PyMethodDef methods[] = {
    {"openai_run", (PyCFunction)(void (*)(void))openai_run, METH_FASTCALL, openai_run_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_sse_runs",
    "Plain OpenAI chat stream events proved and renamed in one pass (see openai_rename.py).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__sse_runs(void)
{
    return PyModule_Create(&module);
}
