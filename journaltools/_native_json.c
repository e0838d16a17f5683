/*
 * journaltools._native_json: the JSON / jsonl (and rbd-format) export records of IO events in C.
 *
 * What journaltools/export.py builds per entry in Python (entry_record() of the entry and
 * its fast-path event, then orjson.dumps) is written here straight into an output buffer,
 * byte for byte the same: the Python path stays the reference and the fallback
 * (tests/test_native_json.py compares both on every fixture journal and on generated
 * entries).  Only events on the compiled fast path (journaltools/format/event_fastpath.py:
 * IO events in the exact shape librbd writes) are formatted here; for any other entry (and
 * for values whose JSON form this file does not produce, such as timestamps below 1 s)
 * the functions answer "not mine" and the caller formats the entry in Python.
 *
 * The pieces, each checked against its Python counterpart:
 *   - integers as orjson writes them; bool fields as true/false;
 *   - the timestamp float (sec + nsec / 1e9) as its shortest round-trip decimal, as
 *     orjson and Python's repr() write floats from 1 to 2^53 ("1795570225.5190074",
 *     "1795570225.0");
 *   - the "time" string: datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")
 *     with Z, including CPython's round-half-even of the microseconds;
 *   - base64 of the data (AVX2 or SSSE3 when the CPU has them, checked at import; a table otherwise);
 *   - the object name (any str) through the encoder export.py gives (orjson.dumps), cached
 *     per name.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_SIMD 1
#endif

static inline uint64_t le64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t le32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t le16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* ---- output buffer ------------------------------------------------------------------------------ */

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->len + extra)
        cap *= 2;
    char *data = PyMem_Realloc(b->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

/* the caller reserved room */
static inline void put(Buf *b, const char *s, size_t n) { memcpy(b->data + b->len, s, n); b->len += n; }
#define PUT_LIT(b, s) put((b), (s), sizeof(s) - 1)

static char digit_pairs[200];  /* "00" "01" ... "99" (filled at import) */

static inline void put_u64(Buf *b, uint64_t v)
{
    char tmp[20];
    int i = 20;
    while (v >= 100) {
        i -= 2;
        memcpy(tmp + i, digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        i -= 2;
        memcpy(tmp + i, digit_pairs + 2 * v, 2);
    } else {
        tmp[--i] = (char)('0' + v);
    }
    put(b, tmp + i, (size_t)(20 - i));
}

static inline void put_i64(Buf *b, int64_t v)
{
    if (v < 0) {
        b->data[b->len++] = '-';
        put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u64(b, (uint64_t)v);
    }
}

/* n digits of v, zero-padded */
static inline void put_digits(Buf *b, uint64_t v, int n)
{
    int i = n;
    for (; i >= 2; i -= 2) {
        memcpy(b->data + b->len + (size_t)i - 2, digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (i)
        b->data[b->len] = (char)('0' + v % 10);
    b->len += (size_t)n;
}

/* ---- base64 ------------------------------------------------------------------------------------- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static int have_ssse3;

static size_t b64_scalar(const unsigned char *src, size_t len, char *out)
{
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        o[0] = b64_alphabet[v >> 18];
        o[1] = b64_alphabet[(v >> 12) & 63];
        o[2] = b64_alphabet[(v >> 6) & 63];
        o[3] = b64_alphabet[v & 63];
        o += 4;
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)src[i] << 16;
        o[0] = b64_alphabet[v >> 18];
        o[1] = b64_alphabet[(v >> 12) & 63];
        o[2] = '=';
        o[3] = '=';
        o += 4;
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
        o[0] = b64_alphabet[v >> 18];
        o[1] = b64_alphabet[(v >> 12) & 63];
        o[2] = b64_alphabet[(v >> 6) & 63];
        o[3] = '=';
        o += 4;
    }
    return (size_t)(o - out);
}

#ifdef HAVE_X86_SIMD
/* 12 input bytes to 16 characters per step: each 3 bytes spread over a 32-bit lane, the four
 * 6-bit groups moved into the lane's bytes with two multiplies, then mapped to the alphabet by
 * adding a per-range offset looked up with pshufb */
__attribute__((target("ssse3")))
static size_t b64_ssse3(const unsigned char *src, size_t len, char *out)
{
    size_t i = 0, o = 0;
    const __m128i spread = _mm_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    const __m128i mask_ac = _mm_set1_epi32(0x0fc0fc00), mul_ac = _mm_set1_epi32(0x04000040);
    const __m128i mask_bd = _mm_set1_epi32(0x003f03f0), mul_bd = _mm_set1_epi32(0x01000010);
    const __m128i offsets = _mm_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                          '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
    for (; i + 16 <= len; i += 12, o += 16) {
        __m128i in = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + i)), spread);
        __m128i idx = _mm_or_si128(_mm_mulhi_epu16(_mm_and_si128(in, mask_ac), mul_ac),
                                   _mm_mullo_epi16(_mm_and_si128(in, mask_bd), mul_bd));
        __m128i range = _mm_subs_epu8(idx, _mm_set1_epi8(51));
        range = _mm_or_si128(range, _mm_and_si128(_mm_cmpgt_epi8(_mm_set1_epi8(26), idx), _mm_set1_epi8(13)));
        _mm_storeu_si128((__m128i *)(out + o), _mm_add_epi8(_mm_shuffle_epi8(offsets, range), idx));
    }
    return o + b64_scalar(src + i, len - i, out + o);
}

/* the same in two 128-bit lanes: 24 input bytes to 32 characters per step */
__attribute__((target("avx2")))
static size_t b64_avx2(const unsigned char *src, size_t len, char *out)
{
    size_t i = 0, o = 0;
    const __m256i spread = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
                                            1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    const __m256i mask_ac = _mm256_set1_epi32(0x0fc0fc00), mul_ac = _mm256_set1_epi32(0x04000040);
    const __m256i mask_bd = _mm256_set1_epi32(0x003f03f0), mul_bd = _mm256_set1_epi32(0x01000010);
    const __m256i offsets = _mm256_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                             '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0,
                                             'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                             '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
    const __m256i n51 = _mm256_set1_epi8(51), n26 = _mm256_set1_epi8(26), n13 = _mm256_set1_epi8(13);
    for (; i + 28 <= len; i += 24, o += 32) {
        __m128i lo = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i hi = _mm_loadu_si128((const __m128i *)(src + i + 12));
        __m256i in = _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), spread);
        __m256i idx = _mm256_or_si256(_mm256_mulhi_epu16(_mm256_and_si256(in, mask_ac), mul_ac),
                                      _mm256_mullo_epi16(_mm256_and_si256(in, mask_bd), mul_bd));
        __m256i range = _mm256_subs_epu8(idx, n51);
        range = _mm256_or_si256(range, _mm256_and_si256(_mm256_cmpgt_epi8(n26, idx), n13));
        _mm256_storeu_si256((__m256i *)(out + o), _mm256_add_epi8(_mm256_shuffle_epi8(offsets, range), idx));
    }
    return o + b64_ssse3(src + i, len - i, out + o);
}
#endif

static int have_avx2;

static size_t b64_encode(const unsigned char *src, size_t len, char *out)
{
#ifdef HAVE_X86_SIMD
    if (have_avx2)
        return b64_avx2(src, len, out);
    if (have_ssse3)
        return b64_ssse3(src, len, out);
#endif
    return b64_scalar(src, len, out);
}

/* ---- the timestamp ------------------------------------------------------------------------------- */

static const uint64_t pow10_u64[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL, 1000000000ULL,
    10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL, 100000000000000ULL,
    1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL, 1000000000000000000ULL,
    10000000000000000000ULL,
};

/* The shortest decimal that reads back as v, for 1 <= v < 2^53, as repr() and orjson write it
 * ("123.25", "1795570225.0"); 0 when v is outside that range.  v = m / 2^k exactly; with d
 * fractional digits the nearest decimal is N / 10^d, N = round-half-even(m * 10^d / 2^k); it
 * reads back as v when it lies within half a unit in the last place (the half-way point only
 * when m is even: reading rounds half to even).  The first d that reads back is the shortest
 * (the integer digits are fixed), and N the nearest of that length.  (A decimal exactly half an ulp
 * away needs more than k fractional digits, and at d = k the decimal is v itself: the half-way case
 * never decides; it is written out for clarity.) */
static int put_float(Buf *b, double v)
{
    if (!(v >= 1.0 && v < 9007199254740992.0))
        return 0;
    uint64_t bits;
    memcpy(&bits, &v, 8);
    int exponent = (int)((bits >> 52) & 0x7ff) - 1075;  /* v = m * 2^exponent */
    uint64_t m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
    if (exponent >= 0) {  /* an integer */
        put_u64(b, m << exponent);
        PUT_LIT(b, ".0");
        return 1;
    }
    int k = -exponent;  /* 1..52 */
    unsigned __int128 mk = (unsigned __int128)1 << k;
    for (int d = 0; d <= 17; d++) {
        unsigned __int128 scaled = (unsigned __int128)m * pow10_u64[d];
        unsigned __int128 n = scaled >> k, rest = scaled & (mk - 1), half = mk >> 1;
        if (rest > half || (rest == half && (n & 1)))
            n++;
        /* |N / 10^d - v| = diff / (10^d * 2^k) against half an ulp, 1 / 2^(k + 1) */
        unsigned __int128 nk = n << k;
        unsigned __int128 diff = nk > scaled ? nk - scaled : scaled - nk;
        unsigned __int128 twice = diff * 2, limit = (unsigned __int128)pow10_u64[d];
        if (twice < limit || (twice == limit && !(m & 1))) {
            uint64_t scale = pow10_u64[d];
            uint64_t whole = (uint64_t)(n / scale), frac = (uint64_t)(n % scale);
            put_u64(b, whole);
            if (d == 0) {
                PUT_LIT(b, ".0");
            } else {
                b->data[b->len++] = '.';
                put_digits(b, frac, d);
            }
            return 1;
        }
    }
    return 0;
}

/* CPython's _PyTime_RoundHalfEven and _PyTime_DoubleToDenominator, as datetime.fromtimestamp
 * uses them for a float (the same double operations, so the same microseconds) */
static double round_half_even(double x)
{
    double rounded = round(x);
    if (fabs(x - rounded) == 0.5)
        rounded = 2.0 * round(x / 2.0);
    return rounded;
}

/* days since 1970-01-01 to a civil date (proleptic Gregorian) */
static void civil_from_days(int64_t z, int64_t *year, unsigned *month, unsigned *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = y + (*month <= 2);
}

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" for 1 <= v < 2^33 (the caller checked) */
static void put_iso(Buf *b, double v)
{
    double whole;
    volatile double frac = modf(v, &whole);
    frac *= 1e6;
    frac = round_half_even(frac);
    if (frac >= 1e6) {
        frac -= 1e6;
        whole += 1.0;
    }
    int64_t t = (int64_t)whole;
    uint64_t us = (uint64_t)frac;
    int64_t days = t / 86400, secs = t % 86400, year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    put_digits(b, (uint64_t)year, 4);
    b->data[b->len++] = '-';
    put_digits(b, month, 2);
    b->data[b->len++] = '-';
    put_digits(b, day, 2);
    b->data[b->len++] = 'T';
    put_digits(b, (uint64_t)(secs / 3600), 2);
    b->data[b->len++] = ':';
    put_digits(b, (uint64_t)(secs / 60 % 60), 2);
    b->data[b->len++] = ':';
    put_digits(b, (uint64_t)(secs % 60), 2);
    b->data[b->len++] = '.';
    put_digits(b, us, 6);
    b->data[b->len++] = 'Z';
}

/* ---- the event layouts (set by export.py from event_fastpath.LAYOUTS) ---------------------------- */

#define MAX_TYPES 64
#define MAX_FIELDS 8
#define META_SIZE 14
#define ENVELOPE 10

typedef struct {
    int present;
    PyObject *name_json;     /* bytes: the event type name as a JSON string */
    Py_ssize_t n_fields;
    PyObject *keys[MAX_FIELDS];  /* bytes: '"name":' */
    char formats[MAX_FIELDS];    /* struct format characters */
    Py_ssize_t blob_at;      /* offset of the trailing bufferlist's u32 length, 0: none */
    PyObject *blob_key;      /* bytes: '"data":' */
    Py_ssize_t fixed_body;   /* body bytes besides the bufferlist's data */
} Layout;

static Layout layouts[MAX_TYPES];
static int n_layouts;
static int event_version = -1;
static PyObject *string_encoder;   /* orjson.dumps: a str to its JSON bytes */
static PyObject *name_cache;       /* dict: object name -> its JSON bytes */

static int format_size(char f)
{
    switch (f) {
    case 'B': case 'b': case '?': return 1;
    case 'H': case 'h': return 2;
    case 'I': case 'i': case 'L': case 'l': return 4;
    case 'Q': case 'q': return 8;
    default: return 0;
    }
}

static void clear_layout(Layout *l)
{
    Py_CLEAR(l->name_json);
    Py_CLEAR(l->blob_key);
    for (int i = 0; i < MAX_FIELDS; i++)
        Py_CLEAR(l->keys[i]);
    memset(l, 0, sizeof *l);
}

/* set_layouts(layouts, version, encoder): layouts[type] is None or
 * (name_json: bytes, keys: list[bytes], formats: str, blob_key: bytes | None); a layout with a
 * field format this file does not write stays None (those events go to Python) */
static PyObject *set_layouts(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *list, *encoder;
    int version;
    if (!PyArg_ParseTuple(args, "O!iO", &PyList_Type, &list, &version, &encoder))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(list);
    if (n > MAX_TYPES) {
        PyErr_SetString(PyExc_ValueError, "set_layouts(): more event types than the C table holds");
        return NULL;
    }
    for (int t = 0; t < MAX_TYPES; t++)
        clear_layout(&layouts[t]);
    n_layouts = 0;
    for (Py_ssize_t t = 0; t < n; t++) {
        PyObject *item = PyList_GET_ITEM(list, t);
        if (item == Py_None)
            continue;
        PyObject *name, *keys, *blob;
        const char *formats;
        Py_ssize_t n_formats;
        if (!PyArg_ParseTuple(item, "SO!s#O", &name, &PyList_Type, &keys, &formats, &n_formats, &blob))
            return NULL;
        Py_ssize_t nf = PyList_GET_SIZE(keys);
        if (nf != n_formats || nf > MAX_FIELDS || (blob != Py_None && !PyBytes_Check(blob))) {
            PyErr_SetString(PyExc_ValueError, "set_layouts(): bad layout");
            return NULL;
        }
        Layout *l = &layouts[t];
        Py_ssize_t at = ENVELOPE, ok = 1;
        for (Py_ssize_t i = 0; i < nf; i++) {
            PyObject *key = PyList_GET_ITEM(keys, i);
            int size = format_size(formats[i]);
            if (!PyBytes_Check(key) || size == 0)
                ok = 0;
            at += size;
        }
        if (!ok)
            continue;  /* not formatted here */
        l->present = 1;
        Py_INCREF(name);
        l->name_json = name;
        l->n_fields = nf;
        for (Py_ssize_t i = 0; i < nf; i++) {
            l->keys[i] = Py_NewRef(PyList_GET_ITEM(keys, i));
            l->formats[i] = formats[i];
        }
        if (blob != Py_None) {
            l->blob_key = Py_NewRef(blob);
            l->blob_at = at;
            at += 4;
        }
        l->fixed_body = at - 6;  /* the body starts after struct_v, struct_compat and its u32 length */
    }
    n_layouts = (int)n;
    event_version = version;
    Py_INCREF(encoder);
    Py_XSETREF(string_encoder, encoder);
    Py_XSETREF(name_cache, PyDict_New());
    if (name_cache == NULL)
        return NULL;
    Py_RETURN_NONE;
}

/* the layout of a payload in its compiled shape (event_fastpath.fast_event accepts it), else NULL */
static const Layout *match(const unsigned char *p, Py_ssize_t size)
{
    if (size < ENVELOPE + META_SIZE || p[0] != event_version || p[1] != 1)
        return NULL;
    Py_ssize_t body = (Py_ssize_t)le32(p + 2);
    uint32_t type = le32(p + 6);
    if (body != size - 6 - META_SIZE || type >= (uint32_t)n_layouts || !layouts[type].present)
        return NULL;
    const Layout *l = &layouts[type];
    if (l->blob_key != NULL) {
        if (body < l->fixed_body || l->blob_at + 4 > size || (Py_ssize_t)le32(p + l->blob_at) != body - l->fixed_body)
            return NULL;
    } else if (body != l->fixed_body) {
        return NULL;
    }
    const unsigned char *meta = p + size - META_SIZE;
    if (meta[0] != 1 || meta[1] != 1 || le32(meta + 2) != 8)
        return NULL;
    return l;
}

/* ---- the entry ---------------------------------------------------------------------------------------- */

/* JournalEntry (journaltools/journal/walk.py) is a slots dataclass: its fields are read at their
 * slot offsets when the entry is exactly of that class, else by attribute */
static const char *const entry_fields[] = {"object_name", "offset", "tag_tid", "entry_tid", "commit_tid", "payload"};
#define N_ENTRY 6
static PyTypeObject *entry_type;
static Py_ssize_t entry_offsets[N_ENTRY];
static PyObject *entry_names[N_ENTRY];

static PyObject *set_entry_type(PyObject *self, PyObject *type)
{
    (void)self;
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "set_entry_type() needs a class");
        return NULL;
    }
    Py_ssize_t offsets[N_ENTRY];
    for (int i = 0; i < N_ENTRY; i++) {
        if (entry_names[i] == NULL && (entry_names[i] = PyUnicode_InternFromString(entry_fields[i])) == NULL)
            return NULL;
        PyObject *descr = PyObject_GetAttr(type, entry_names[i]);
        if (descr == NULL)
            return NULL;
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type)
                 && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        if (ok)
            offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "field %s of the entry class is not a slot", entry_fields[i]);
            return NULL;
        }
    }
    memcpy(entry_offsets, offsets, sizeof offsets);
    Py_INCREF(type);
    Py_XSETREF(entry_type, (PyTypeObject *)type);
    Py_RETURN_NONE;
}

/* new references to the entry's fields, or -1 with an exception set */
static int entry_values(PyObject *entry, PyObject **values)
{
    if (entry_type != NULL && Py_IS_TYPE(entry, entry_type)) {
        for (int i = 0; i < N_ENTRY; i++) {
            PyObject *v = *(PyObject **)((char *)entry + entry_offsets[i]);
            if (v == NULL) {
                for (int j = 0; j < i; j++)
                    Py_DECREF(values[j]);
                PyErr_Format(PyExc_AttributeError, "entry has no %s", entry_fields[i]);
                return -1;
            }
            values[i] = Py_NewRef(v);
        }
        return 0;
    }
    for (int i = 0; i < N_ENTRY; i++) {
        if (entry_names[i] == NULL && (entry_names[i] = PyUnicode_InternFromString(entry_fields[i])) == NULL)
            values[i] = NULL;
        else
            values[i] = PyObject_GetAttr(entry, entry_names[i]);
        if (values[i] == NULL) {
            for (int j = 0; j < i; j++)
                Py_DECREF(values[j]);
            return -1;
        }
    }
    return 0;
}

/* an int field as a u64, or 0 ("not mine": negative, too large, not an int) */
static int as_u64(PyObject *v, uint64_t *out)
{
    if (!PyLong_CheckExact(v))
        return 0;
    *out = PyLong_AsUnsignedLongLong(v);
    if (*out == (uint64_t)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

static PyObject *object_json(PyObject *name)
{
    PyObject *cached = PyDict_GetItemWithError(name_cache, name);
    if (cached != NULL || PyErr_Occurred())
        return cached;
    PyObject *encoded = PyObject_CallOneArg(string_encoder, name);
    if (encoded == NULL)
        return NULL;
    if (!PyBytes_Check(encoded)) {
        Py_DECREF(encoded);
        PyErr_SetString(PyExc_TypeError, "the string encoder must return bytes");
        return NULL;
    }
    if (PyDict_GET_SIZE(name_cache) > 4096)
        PyDict_Clear(name_cache);
    int stored = PyDict_SetItem(name_cache, name, encoded);
    Py_DECREF(encoded);
    return stored < 0 ? NULL : encoded;  /* borrowed from the cache */
}

static inline void put_bytes(Buf *b, PyObject *bytes)
{
    put(b, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
}

/* Append prefix + the entry's record + suffix to b: 1 done, 0 not mine (b unchanged), -1 error. */
static int format_entry(Buf *b, PyObject *entry, const char *prefix, size_t prefix_len, const char *suffix,
                        size_t suffix_len)
{
    PyObject *v[N_ENTRY];
    if (entry_values(entry, v) < 0)
        return -1;
    int result = 0;
    uint64_t ints[4];
    Py_buffer payload;
    if (!PyUnicode_CheckExact(v[0]))
        goto done;
    for (int i = 0; i < 4; i++)
        if (!as_u64(v[1 + i], &ints[i]))
            goto done;
    if (PyObject_GetBuffer(v[5], &payload, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        goto done;
    }
    const unsigned char *p = payload.buf;
    Py_ssize_t size = payload.len;
    const Layout *l = match(p, size);
    if (l == NULL)
        goto release;
    const unsigned char *meta = p + size - META_SIZE;
    uint32_t sec = le32(meta + 6), nsec = le32(meta + 10);
    double timestamp = (double)sec + (double)nsec / 1e9;
    if (!(timestamp >= 1.0))
        goto release;  /* "1e-9" and "0.0": left to orjson */
    PyObject *obj = object_json(v[0]);
    if (obj == NULL) {
        result = -1;
        goto release;
    }
    size_t blob_len = l->blob_key ? (size_t)le32(p + l->blob_at) : 0;
    size_t need = prefix_len + suffix_len + (size_t)PyBytes_GET_SIZE(obj) + (size_t)PyBytes_GET_SIZE(l->name_json)
                  + 512 + 32 * MAX_FIELDS + (l->blob_key ? (size_t)PyBytes_GET_SIZE(l->blob_key) : 0)
                  + (blob_len + 2) / 3 * 4;
    for (Py_ssize_t i = 0; i < l->n_fields; i++)
        need += (size_t)PyBytes_GET_SIZE(l->keys[i]);
    if (buf_reserve(b, need) < 0) {
        result = -1;
        goto release;
    }
    size_t start = b->len;
    put(b, prefix, prefix_len);
    PUT_LIT(b, "{\"object\":");
    put_bytes(b, obj);
    PUT_LIT(b, ",\"offset\":");
    put_u64(b, ints[0]);
    PUT_LIT(b, ",\"tag_tid\":");
    put_u64(b, ints[1]);
    PUT_LIT(b, ",\"entry_tid\":");
    put_u64(b, ints[2]);
    PUT_LIT(b, ",\"commit_tid\":");
    put_u64(b, ints[3]);
    PUT_LIT(b, ",\"event_type\":");
    put_bytes(b, l->name_json);
    uint32_t type = le32(p + 6);
    PUT_LIT(b, ",\"type\":");
    put_u64(b, type);
    PUT_LIT(b, ",\"timestamp\":");
    if (!put_float(b, timestamp)) {
        b->len = start;
        goto release;
    }
    PUT_LIT(b, ",\"time\":\"");
    put_iso(b, timestamp);
    PUT_LIT(b, "\",\"event\":{\"event\":{\"event_type\":");
    put_u64(b, type);
    PUT_LIT(b, ",\"payload\":{");
    const unsigned char *f = p + ENVELOPE;
    for (Py_ssize_t i = 0; i < l->n_fields; i++) {
        if (i)
            b->data[b->len++] = ',';
        put_bytes(b, l->keys[i]);
        switch (l->formats[i]) {
        case 'B': put_u64(b, *f); f += 1; break;
        case 'b': put_i64(b, (int8_t)*f); f += 1; break;
        case '?':
            if (*f)
                PUT_LIT(b, "true");
            else
                PUT_LIT(b, "false");
            f += 1;
            break;
        case 'H': put_u64(b, le16(f)); f += 2; break;
        case 'h': put_i64(b, (int16_t)le16(f)); f += 2; break;
        case 'I': case 'L': put_u64(b, le32(f)); f += 4; break;
        case 'i': case 'l': put_i64(b, (int32_t)le32(f)); f += 4; break;
        case 'Q': put_u64(b, le64(f)); f += 8; break;
        case 'q': put_i64(b, (int64_t)le64(f)); f += 8; break;
        }
    }
    if (l->blob_key) {
        if (l->n_fields)
            b->data[b->len++] = ',';
        put_bytes(b, l->blob_key);
        b->data[b->len++] = '"';
        b->len += b64_encode(p + l->blob_at + 4, blob_len, b->data + b->len);
        b->data[b->len++] = '"';
    }
    PUT_LIT(b, "}},\"metadata\":{\"timestamp\":{\"sec\":");
    put_u64(b, sec);
    PUT_LIT(b, ",\"nsec\":");
    put_u64(b, nsec);
    PUT_LIT(b, "}}}}");
    put(b, suffix, suffix_len);
    result = 1;
release:
    PyBuffer_Release(&payload);
done:
    for (int i = 0; i < N_ENTRY; i++)
        Py_DECREF(v[i]);
    return result;
}

static inline size_t digits_u64(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Append the entry's record of rbd's export format (export.RbdExportWriter.write_type):
 * '<N> {"tag_id":T,"commit_tid":C,"type":E,"entry":"<base64 of the payload>"}\n', N the byte length
 * of the JSON: 1 done, 0 not mine (not a fast-path event, numbers outside u64), -1 error. */
static int format_rbd(Buf *b, PyObject *entry)
{
    PyObject *v[N_ENTRY];
    if (entry_values(entry, v) < 0)
        return -1;
    int result = 0;
    uint64_t tag_tid, commit_tid;
    Py_buffer payload;
    if (!as_u64(v[2], &tag_tid) || !as_u64(v[4], &commit_tid))
        goto done;
    if (PyObject_GetBuffer(v[5], &payload, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        goto done;
    }
    if (match(payload.buf, payload.len) == NULL)
        goto release;
    uint32_t type = le32((const unsigned char *)payload.buf + 6);
    size_t b64_len = ((size_t)payload.len + 2) / 3 * 4;
    size_t record = sizeof("{\"tag_id\":,\"commit_tid\":,\"type\":,\"entry\":\"\"}") - 1 + digits_u64(tag_tid)
                    + digits_u64(commit_tid) + digits_u64(type) + b64_len;
    if (buf_reserve(b, record + 24) < 0) {
        result = -1;
        goto release;
    }
    put_u64(b, record);
    PUT_LIT(b, " {\"tag_id\":");
    put_u64(b, tag_tid);
    PUT_LIT(b, ",\"commit_tid\":");
    put_u64(b, commit_tid);
    PUT_LIT(b, ",\"type\":");
    put_u64(b, type);
    PUT_LIT(b, ",\"entry\":\"");
    b->len += b64_encode(payload.buf, (size_t)payload.len, b->data + b->len);
    PUT_LIT(b, "\"}\n");
    result = 1;
release:
    PyBuffer_Release(&payload);
done:
    for (int i = 0; i < N_ENTRY; i++)
        Py_DECREF(v[i]);
    return result;
}

static int ready(void)
{
    if (event_version < 0) {
        PyErr_SetString(PyExc_RuntimeError, "set_layouts() was not called");
        return 0;
    }
    return 1;
}

/* entry_record(entry) -> bytes | None: orjson.dumps(export.entry_record(entry, its event)) */
static PyObject *entry_record(PyObject *self, PyObject *entry)
{
    (void)self;
    if (!ready())
        return NULL;
    Buf b = {NULL, 0, 0};
    int done = format_entry(&b, entry, "", 0, "", 0);
    PyObject *result = done < 0 ? NULL : done ? PyBytes_FromStringAndSize(b.data, (Py_ssize_t)b.len) : Py_NewRef(Py_None);
    PyMem_Free(b.data);
    return result;
}

/* rbd_record(entry) -> bytes | None: export.RbdExportWriter's record of a fast-path event */
static PyObject *rbd_record(PyObject *self, PyObject *entry)
{
    (void)self;
    if (!ready())
        return NULL;
    Buf b = {NULL, 0, 0};
    int done = format_rbd(&b, entry);
    PyObject *result = done < 0 ? NULL : done ? PyBytes_FromStringAndSize(b.data, (Py_ssize_t)b.len) : Py_NewRef(Py_None);
    PyMem_Free(b.data);
    return result;
}

/* hand the buffer to write(); 0 or -1 */
static int flush(Buf *b, PyObject *write)
{
    if (b->len == 0)
        return 0;
    PyObject *view = PyMemoryView_FromMemory(b->data, (Py_ssize_t)b->len, PyBUF_READ);
    if (view == NULL)
        return -1;
    PyObject *r = PyObject_CallOneArg(write, view);
    /* the writer must not keep the view: release it (a kept view raises on use, never reads freed memory) */
    PyObject *released = PyObject_CallMethod(view, "release", NULL);
    Py_DECREF(view);
    if (r == NULL || released == NULL) {
        Py_XDECREF(r);
        Py_XDECREF(released);
        return -1;
    }
    Py_DECREF(r);
    Py_DECREF(released);
    b->len = 0;
    return 0;
}

#define FLUSH_AT (1 << 20)

/* export_run(entries, problems, seen, write, first_prefix, prefix, suffix, rbd=False) -> (written, entry | None)
 *
 * rbd true: rbd's export records (format_rbd; the affixes are not used), else the JSON records.
 * Take entries from the iterator and append their records to a buffer handed to write() every
 * megabyte, until the iterator ends (entry None) or an entry needs the Python path: new problems
 * came with it (len(problems) != seen) or it is not formatted here.  That entry is returned
 * unwritten; everything before it has been written. */
static PyObject *export_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 7 && nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "export_run(entries, problems, seen, write, first_prefix, prefix, suffix, rbd=False)");
        return NULL;
    }
    int rbd = nargs == 8 ? PyObject_IsTrue(args[7]) : 0;
    if (rbd < 0)
        return NULL;
    if (!ready())
        return NULL;
    PyObject *entries = args[0], *problems = args[1], *write = args[3];
    Py_ssize_t seen = PyLong_AsSsize_t(args[2]);
    if (seen == -1 && PyErr_Occurred())
        return NULL;
    if (!PyList_Check(problems) || !PyBytes_Check(args[4]) || !PyBytes_Check(args[5]) || !PyBytes_Check(args[6])) {
        PyErr_SetString(PyExc_TypeError, "export_run(): problems is a list, the affixes are bytes");
        return NULL;
    }
    const char *prefix = PyBytes_AS_STRING(args[4]);
    size_t prefix_len = (size_t)PyBytes_GET_SIZE(args[4]);
    const char *suffix = PyBytes_AS_STRING(args[6]);
    size_t suffix_len = (size_t)PyBytes_GET_SIZE(args[6]);
    Buf b = {NULL, 0, 0};
    Py_ssize_t written = 0;
    PyObject *entry = NULL;
    for (;;) {
        entry = PyIter_Next(entries);
        if (entry == NULL) {
            if (PyErr_Occurred()) {
                /* what came before is written, as the Python loop would have (an interrupted export to stdout) */
                PyObject *type, *value, *traceback;
                PyErr_Fetch(&type, &value, &traceback);
                if (flush(&b, write) < 0)
                    PyErr_Clear();
                PyErr_Restore(type, value, traceback);
                goto fail;
            }
            break;
        }
        if (PyList_GET_SIZE(problems) != seen)
            break;
        int done = rbd ? format_rbd(&b, entry) : format_entry(&b, entry, prefix, prefix_len, suffix, suffix_len);
        if (done < 0)
            goto fail;
        if (done == 0)
            break;
        Py_CLEAR(entry);
        if (written++ == 0) {
            prefix = PyBytes_AS_STRING(args[5]);
            prefix_len = (size_t)PyBytes_GET_SIZE(args[5]);
        }
        if (b.len >= FLUSH_AT && flush(&b, write) < 0)
            goto fail;
    }
    if (flush(&b, write) < 0)
        goto fail;
    PyMem_Free(b.data);
    return Py_BuildValue("(nN)", written, entry == NULL ? Py_NewRef(Py_None) : entry);
fail:
    Py_XDECREF(entry);
    PyMem_Free(b.data);
    return NULL;
}

/* ---- pieces, for the tests ---------------------------------------------------------------------------- */

static PyObject *b64encode(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "b64encode(data, level=2)");
        return NULL;
    }
    long level = nargs == 2 ? PyLong_AsLong(args[1]) : 2;
    if (level == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer buf;
    if (PyObject_GetBuffer(args[0], &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (buf.len + 2) / 3 * 4);
    if (out != NULL) {
        char *o = PyBytes_AS_STRING(out);
#ifdef HAVE_X86_SIMD
        if (level >= 2 && have_avx2)
            b64_avx2(buf.buf, (size_t)buf.len, o);
        else if (level >= 1 && have_ssse3)
            b64_ssse3(buf.buf, (size_t)buf.len, o);
        else
#endif
            b64_scalar(buf.buf, (size_t)buf.len, o);
    }
    PyBuffer_Release(&buf);
    return out;
}

/* timestamp_json(sec, nsec) -> (float JSON, time JSON) | None */
static PyObject *timestamp_json(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned int sec, nsec;
    if (!PyArg_ParseTuple(args, "II", &sec, &nsec))
        return NULL;
    double t = (double)sec + (double)nsec / 1e9;
    char room[128];
    Buf b = {room, 0, sizeof room};
    if (!(t >= 1.0) || !put_float(&b, t))
        Py_RETURN_NONE;
    size_t split = b.len;
    put_iso(&b, t);
    return Py_BuildValue("(y#s#)", b.data, (Py_ssize_t)split, b.data + split, (Py_ssize_t)(b.len - split));
}

/* float_json(v) -> bytes | None: the shortest round-trip decimal of 1 <= v < 2^53 */
static PyObject *float_json(PyObject *self, PyObject *arg)
{
    (void)self;
    double v = PyFloat_AsDouble(arg);
    if (v == -1.0 && PyErr_Occurred())
        return NULL;
    char room[64];
    Buf b = {room, 0, sizeof room};
    if (!put_float(&b, v))
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(b.data, (Py_ssize_t)b.len);
}

static PyObject *simd_base64(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyUnicode_FromString(have_avx2 ? "avx2" : have_ssse3 ? "ssse3" : "");
}

static PyMethodDef methods[] = {
    {"set_layouts", set_layouts, METH_VARARGS,
     "set_layouts(layouts, version, encoder): the compiled event layouts and the str -> JSON bytes encoder"},
    {"set_entry_type", set_entry_type, METH_O, "set_entry_type(cls): the slots class of the walk's entries"},
    {"entry_record", entry_record, METH_O,
     "entry_record(entry) -> bytes | None: the entry's JSON record, None when the entry is not formatted here"},
    {"rbd_record", rbd_record, METH_O,
     "rbd_record(entry) -> bytes | None: the entry's record of rbd's export format, None when not formatted here"},
    {"export_run", (PyCFunction)(void (*)(void))export_run, METH_FASTCALL,
     "export_run(entries, problems, seen, write, first_prefix, prefix, suffix, rbd=False) -> (written, entry | None)"},
    {"b64encode", (PyCFunction)(void (*)(void))b64encode, METH_FASTCALL,
     "b64encode(data, level=2) -> bytes: standard base64 with padding (level 0 the table, 1 SSSE3, 2 AVX2 if present)"},
    {"timestamp_json", timestamp_json, METH_VARARGS,
     "timestamp_json(sec, nsec) -> (bytes, str) | None: the record's timestamp and time"},
    {"float_json", float_json, METH_O, "float_json(v) -> bytes | None: v as orjson writes it, for 1 <= v < 2**53"},
    {"simd_base64", simd_base64, METH_NOARGS, "simd_base64() -> str: the base64 in use: avx2, ssse3 or the table (empty)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "journaltools._native_json",
    "The JSON export records of IO events in C (journaltools/export.py is the reference).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native_json(void)
{
    const uint16_t probe = 1;
    if (*(const unsigned char *)&probe != 1) {
        PyErr_SetString(PyExc_ImportError, "journaltools._native_json supports little-endian hosts only");
        return NULL;
    }
    for (int i = 0; i < 100; i++) {
        digit_pairs[2 * i] = (char)('0' + i / 10);
        digit_pairs[2 * i + 1] = (char)('0' + i % 10);
    }
#ifdef HAVE_X86_SIMD
    __builtin_cpu_init();
    have_ssse3 = __builtin_cpu_supports("ssse3");
    have_avx2 = have_ssse3 && __builtin_cpu_supports("avx2");
#endif
    return PyModule_Create(&module);
}
