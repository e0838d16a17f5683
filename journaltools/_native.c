/*
 * journaltools._native: the per-entry hot loop of the frame scanner in C.
 *
 * One function, ok_run(), does what journaltools/journal/scan.py's _ok_run does in
 * Python (the pure-Python function stays the reference and the fallback; scan.py
 * picks one of the two, tests/test_native_core.py runs both on the same inputs):
 * from a byte offset in a buffer, frame after frame, check the preamble, the
 * version, that the frame fits in the buffer and the crc32c, and append a Frame
 * for each well-formed one; stop at the first frame that is not.  Everything
 * irregular stays with the careful Python scanner.
 *
 * Frame layout (src/journal/Entry.cc), little-endian:
 *   u64 preamble | u8 version | u64 entry_tid | u64 tag_tid | u32 data_len | data | u32 crc
 * The crc is crc32c (Castagnoli) with register seed 0 and no final inversion over
 * everything before it.  Our own implementation: SSE4.2's crc32 instruction when the
 * CPU has it (checked at import), a table otherwise.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

#define PREAMBLE 0x3141592653589793ULL
#define VERSION 1
#define HEAD_SIZE 29
#define OVERHEAD 33

/* ---- crc32c ---------------------------------------------------------------------------------- */

static uint32_t crc_table[8][256];
static int have_sse42;

static void crc_table_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++)
            crc_table[t][n] = (crc_table[t - 1][n] >> 8) ^ crc_table[0][crc_table[t - 1][n] & 0xff];
}

/* the raw register update: no inversion before or after (Ceph's ceph_crc32c convention) */
static uint32_t crc_update_table(uint32_t crc, const unsigned char *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        v ^= crc;  /* little-endian host assumed (checked at import) */
        crc = crc_table[7][v & 0xff] ^ crc_table[6][(v >> 8) & 0xff] ^ crc_table[5][(v >> 16) & 0xff]
            ^ crc_table[4][(v >> 24) & 0xff] ^ crc_table[3][(v >> 32) & 0xff] ^ crc_table[2][(v >> 40) & 0xff]
            ^ crc_table[1][(v >> 48) & 0xff] ^ crc_table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86_CRC 1
/* The crc32 instruction has a throughput of one per cycle but a latency of three: one dependent chain
 * runs at a third of what the unit can do.  So a long enough buffer is taken as three blocks of BLOCK
 * bytes whose registers run interleaved (the second and third from 0), and joined after: the register
 * over A then B is shift(register over A, |B|) ^ register over B from 0, where shift() feeds |B| zero
 * bytes, a linear map applied by four tables (crc_shift_*, built once from the polynomial; the
 * method of Mark Adler's crc32c.c).  Two block sizes: frames of 4 KiB writes take the short ones. */
#define CRC_LONG 8192
#define CRC_SHORT 128
static uint32_t crc_shift_long[4][256], crc_shift_short[4][256];

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (; vec; vec >>= 1, mat++)
        if (vec & 1)
            sum ^= *mat;
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
    for (int n = 0; n < 32; n++)
        square[n] = gf2_times(mat, mat[n]);
}

/* the tables that feed `len` zero bytes (len a power of two) to a raw register */
static void crc_shift_init(uint32_t table[4][256], size_t len)
{
    uint32_t odd[32], even[32], *op = odd;
    odd[0] = 0x82F63B78u;  /* one zero bit */
    for (int n = 1; n < 32; n++)
        odd[n] = 1u << (n - 1);
    gf2_square(even, odd);  /* two zero bits */
    gf2_square(odd, even);  /* four */
    for (;;) {  /* eight zero bits (one byte) in even, then doubling until len is used up */
        gf2_square(even, odd);
        op = even;
        len >>= 1;
        if (len == 0)
            break;
        gf2_square(odd, even);
        op = odd;
        len >>= 1;
        if (len == 0)
            break;
    }
    for (uint32_t n = 0; n < 256; n++) {
        table[0][n] = gf2_times(op, n);
        table[1][n] = gf2_times(op, n << 8);
        table[2][n] = gf2_times(op, n << 16);
        table[3][n] = gf2_times(op, n << 24);
    }
}

static inline uint32_t crc_shift(uint32_t table[4][256], uint32_t crc)
{
    return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^ table[2][(crc >> 16) & 0xff] ^ table[3][crc >> 24];
}

/* the register after the three-block rounds of `block` bytes (while at least 3 * block are left), moving
 * *p and *len past them: three chains interleaved, joined by `shift` (inlined, so each block size compiles
 * to its own loop) */
__attribute__((target("sse4.2"), always_inline))
static inline uint64_t crc_triples(uint64_t c, const unsigned char **pp, size_t *lenp, size_t block,
                                   uint32_t shift[4][256])
{
    const unsigned char *p = *pp;
    size_t len = *lenp;
    while (len >= 3 * block) {
        uint64_t c1 = 0, c2 = 0, a, b, d;
        for (const unsigned char *end = p + block; p < end; p += 8) {
            memcpy(&a, p, 8); memcpy(&b, p + block, 8); memcpy(&d, p + 2 * block, 8);
            c = __builtin_ia32_crc32di(c, a);
            c1 = __builtin_ia32_crc32di(c1, b);
            c2 = __builtin_ia32_crc32di(c2, d);
        }
        c = crc_shift(shift, (uint32_t)c) ^ (uint32_t)c1;
        c = crc_shift(shift, (uint32_t)c) ^ (uint32_t)c2;
        p += 2 * block;
        len -= 3 * block;
    }
    *pp = p;
    *lenp = len;
    return c;
}

__attribute__((target("sse4.2")))
static uint32_t crc_update_hw(uint32_t crc, const unsigned char *p, size_t len)
{
    uint64_t c = crc;
    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    c = crc_triples(c, &p, &len, CRC_LONG, crc_shift_long);
    c = crc_triples(c, &p, &len, CRC_SHORT, crc_shift_short);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return (uint32_t)c;
}
#endif

#ifdef HAVE_X86_CRC
/* The registers from 0 over three buffers at once, one chain each: what three blocks of one buffer do
 * (three chains hide the instruction's latency), with nothing to join, as the frames of a run are
 * checked independently.  The common length in one loop, each buffer's rest on its own. */
__attribute__((target("sse4.2")))
static void crc_update_hw3(const unsigned char *const p[3], const size_t len[3], uint32_t out[3])
{
    size_t common = len[0] < len[1] ? len[0] : len[1];
    common = (common < len[2] ? common : len[2]) & ~(size_t)7;
    uint64_t c0 = 0, c1 = 0, c2 = 0, a, b, d;
    for (size_t i = 0; i < common; i += 8) {
        memcpy(&a, p[0] + i, 8); memcpy(&b, p[1] + i, 8); memcpy(&d, p[2] + i, 8);
        c0 = __builtin_ia32_crc32di(c0, a);
        c1 = __builtin_ia32_crc32di(c1, b);
        c2 = __builtin_ia32_crc32di(c2, d);
    }
    out[0] = crc_update_hw((uint32_t)c0, p[0] + common, len[0] - common);
    out[1] = crc_update_hw((uint32_t)c1, p[1] + common, len[1] - common);
    out[2] = crc_update_hw((uint32_t)c2, p[2] + common, len[2] - common);
}
#endif

/* the registers from 0 over three buffers (three frames of a run) */
static void crc_update3(const unsigned char *const p[3], const size_t len[3], uint32_t out[3])
{
#ifdef HAVE_X86_CRC
    if (have_sse42) {
        crc_update_hw3(p, len, out);
        return;
    }
#endif
    for (int i = 0; i < 3; i++)
        out[i] = crc_update_table(0, p[i], len[i]);
}

static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t len)
{
#ifdef HAVE_X86_CRC
    if (have_sse42)
        return crc_update_hw(crc, p, len);
#endif
    return crc_update_table(crc, p, len);
}

/* ---- Frame construction ------------------------------------------------------------------------ */

/* Frame is a slots dataclass (journaltools/journal/scan.py); its fields are member descriptors
 * of type T_OBJECT_EX at fixed offsets: ok_run fills them directly, as Frame(...) would.  The same
 * for the walk's JournalEntry (journaltools/journal/walk.py), which replay_run builds. */
static const char *const frame_fields[] = {"offset", "size", "tag_tid", "entry_tid", "payload", "problems"};
#define N_FIELDS 6
enum { F_OFFSET, F_SIZE, F_TAG, F_TID, F_PAYLOAD, F_PROBLEMS };
static const char *const entry_fields[] = {"object_number", "object_name", "offset", "size", "tag_tid",
                                           "entry_tid", "commit_tid", "payload"};
#define N_ENTRY_FIELDS 8

static PyTypeObject *frame_type;
static Py_ssize_t frame_offsets[N_FIELDS];
static PyTypeObject *entry_type;
static Py_ssize_t entry_offsets[N_ENTRY_FIELDS];

/* the slot offsets of the named fields of a class, or -1 with an exception */
static int slot_offsets(PyObject *type, const char *const *fields, int n, Py_ssize_t *offsets)
{
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "needs a class");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        PyObject *descr = PyObject_GetAttrString(type, fields[i]);
        if (descr == NULL)
            return -1;
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type)
                 && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        if (ok)
            offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "field %s of the class is not a slot", fields[i]);
            return -1;
        }
    }
    return 0;
}

/* Remember `type` in *slot and the offsets of its `n` named slots in `offsets` (all or nothing). */
static PyObject *set_slots_type(PyObject *type, const char *const *fields, int n, Py_ssize_t *offsets,
                                PyTypeObject **slot)
{
    Py_ssize_t found[N_FIELDS > N_ENTRY_FIELDS ? N_FIELDS : N_ENTRY_FIELDS];
    if (slot_offsets(type, fields, n, found) < 0)
        return NULL;
    memcpy(offsets, found, (size_t)n * sizeof found[0]);
    Py_INCREF(type);
    Py_XSETREF(*slot, (PyTypeObject *)type);
    Py_RETURN_NONE;
}

static PyObject *set_frame_type(PyObject *self, PyObject *type)
{
    (void)self;
    return set_slots_type(type, frame_fields, N_FIELDS, frame_offsets, &frame_type);
}

static PyObject *set_entry_type(PyObject *self, PyObject *type)
{
    (void)self;
    return set_slots_type(type, entry_fields, N_ENTRY_FIELDS, entry_offsets, &entry_type);
}

static inline PyObject *get_slot(PyObject *obj, Py_ssize_t offset)
{
    return *(PyObject **)((char *)obj + offset);
}

static inline void set_slot(PyObject *obj, int field, PyObject *value)
{
    PyObject **slot = (PyObject **)((char *)obj + frame_offsets[field]);
    Py_XSETREF(*slot, value);
}

/* Frames and entries hold integers, a str, None or a list of problems (which never refer back to a
 * frame) and a payload view: they cannot be part of a reference cycle, so the cyclic garbage collector
 * need not visit them, as CPython untracks tuples of atoms (their class's dealloc, subtype_dealloc,
 * untracks only what is tracked).  The payload memoryviews stay tracked: memoryview's dealloc assumes
 * it is. */
static inline void untrack(PyObject *obj)
{
    if (PyObject_IS_GC(obj) && PyObject_GC_IsTracked(obj))
        PyObject_GC_UnTrack(obj);
}

/* view[start:stop] of a one-dimensional byte memoryview (what the scanner's chunk views are), made as
 * memoryview's own slicing makes it (a new view on the same managed buffer, then its pointer, length and
 * shape narrowed: CPython's memory_subscript, mbuf_add_view + init_slice) without the slice object and
 * its two integers; any other object is sliced through the sequence protocol.  0 <= start <= stop <= len. */
static PyObject *sub_view(PyObject *view, Py_ssize_t start, Py_ssize_t stop)
{
    if (PyMemoryView_Check(view)) {
        PyMemoryViewObject *src = (PyMemoryViewObject *)view;
        const Py_buffer *b = &src->view;
        if (!(src->flags & _Py_MEMORYVIEW_RELEASED) && b->ndim == 1 && b->itemsize == 1 && b->shape != NULL
            && b->strides != NULL && b->strides[0] == 1 && b->suboffsets == NULL
            && 0 <= start && start <= stop && stop <= b->len) {
            PyObject *sliced = PyMemoryView_FromObject(view);
            if (sliced == NULL)
                return NULL;
            Py_buffer *d = &((PyMemoryViewObject *)sliced)->view;
            d->buf = (char *)b->buf + start;
            d->len = stop - start;
            d->shape[0] = stop - start;
            return sliced;
        }
    }
    return PySequence_GetSlice(view, start, stop);
}

/* the integer `value`, the same object as last time when the value is the same (frames of one object mostly
 * share their size and tag): *cache holds a reference to the last one */
static PyObject *cached_int(PyObject **cache, unsigned long long *cached, unsigned long long value)
{
    if (*cache == NULL || *cached != value) {
        PyObject *fresh = PyLong_FromUnsignedLongLong(value);
        if (fresh == NULL)
            return NULL;
        Py_XSETREF(*cache, fresh);
        *cached = value;
    }
    Py_INCREF(*cache);
    return *cache;
}

static PyObject *last_size, *last_tag;
static unsigned long long last_size_value, last_tag_value;

static PyObject *new_frame(PyObject *view, Py_ssize_t offset, Py_ssize_t size, uint64_t tag_tid,
                           uint64_t entry_tid, Py_ssize_t payload_start, Py_ssize_t payload_end)
{
    PyObject *frame = frame_type->tp_alloc(frame_type, 0);
    if (frame == NULL)
        return NULL;
    PyObject *values[N_FIELDS];
    values[0] = PyLong_FromSsize_t(offset);
    values[1] = cached_int(&last_size, &last_size_value, (unsigned long long)size);
    values[2] = cached_int(&last_tag, &last_tag_value, tag_tid);
    values[3] = PyLong_FromUnsignedLongLong(entry_tid);
    if (view == NULL) {  /* a record whose payload was dropped */
        Py_INCREF(Py_None);
        values[4] = Py_None;
    } else {
        values[4] = sub_view(view, payload_start, payload_end);
    }
    Py_INCREF(Py_None);
    values[5] = Py_None;
    int failed = 0;
    for (int i = 0; i < N_FIELDS; i++) {
        if (values[i] == NULL)
            failed = 1;
        set_slot(frame, i, values[i]);
    }
    if (failed) {
        Py_DECREF(frame);
        return NULL;
    }
    untrack(frame);
    return frame;
}

/* ---- Frames: a run of frames kept as offsets into the chunks they were read from ------------------- */

/* What ok_run appends to when it is given a Frames instead of a list: per frame only its place and tids
 * (about 40 bytes, no Python object); a Frame object is made the first time Python asks for that item
 * (frames[i], iteration) and kept, so that what is set on it (problems) stays.  order_run and replay_run
 * read the records directly, and replay_run makes a JournalEntry from a record without a Frame.  A
 * sequence: len, items, slices (a new Frames sharing the made Frames), iteration; append(frame),
 * extend(frames). */
typedef struct {
    int64_t offset;    /* the frame's byte offset in its object */
    int64_t start;     /* its payload's start in its view (unused for a frame made in Python) */
    uint64_t tag, tid;
    uint32_t size;     /* the frame's size, preamble to crc */
    uint32_t view;     /* index into views, or NO_VIEW: the frame came as a Frame object (objs[i] set) */
    int32_t type;      /* shape_of its payload, found by ok_run while the bytes are in the cache ... */
    uint32_t shapes;   /* ... under these event shapes (shapes_generation; 0: not found) */
} frame_rec;

/* the event shapes (set_event_shapes, below); each call of it is a new generation */
static int event_version;
static uint32_t shapes_generation;
static Py_ssize_t shape_of(const unsigned char *p, Py_ssize_t size);
#define NO_VIEW UINT32_MAX
/* a record whose payload bytes were let go (Frames.drop_payloads): its event was found, while it was read,
 * to be an IO event in a compiled shape (type >= 0 under shapes_generation); its Frame's payload is None */
#define DROPPED_VIEW (UINT32_MAX - 1)
#define HAS_VIEW(r) ((r).view < DROPPED_VIEW)

typedef struct {
    PyObject_HEAD
    Py_ssize_t n, cap;
    frame_rec *recs;
    PyObject **objs;   /* the Frame made for each record, or NULL */
    PyObject *views;   /* list of the chunk memoryviews the records point into */
} FramesObject;

static PyTypeObject Frames_Type;
#define Frames_Check(op) Py_IS_TYPE(op, &Frames_Type)

static int frames_reserve(FramesObject *self, Py_ssize_t more)
{
    if (self->n + more <= self->cap)
        return 0;
    Py_ssize_t cap = self->cap ? self->cap : 64;
    while (cap < self->n + more)
        cap *= 2;
    frame_rec *recs = PyMem_Realloc(self->recs, (size_t)cap * sizeof(frame_rec));
    if (recs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->recs = recs;
    PyObject **objs = PyMem_Realloc(self->objs, (size_t)cap * sizeof(PyObject *));
    if (objs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(objs + self->cap, 0, (size_t)(cap - self->cap) * sizeof(PyObject *));
    self->objs = objs;
    self->cap = cap;
    return 0;
}

/* the index of `view` in self->views (appended when it is not the last one) */
static Py_ssize_t frames_view_index(FramesObject *self, PyObject *view)
{
    Py_ssize_t n = PyList_GET_SIZE(self->views);
    if (n && PyList_GET_ITEM(self->views, n - 1) == view)
        return n - 1;
    if (n >= (Py_ssize_t)DROPPED_VIEW) {
        PyErr_SetString(PyExc_OverflowError, "Frames: too many views");
        return -1;
    }
    if (PyList_Append(self->views, view) < 0)
        return -1;
    return n;
}

static PyObject *Frames_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if ((args != NULL && PyTuple_GET_SIZE(args)) || (kwds != NULL && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "Frames() takes no arguments");
        return NULL;
    }
    FramesObject *self = (FramesObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->views = PyList_New(0);
    if (self->views == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void Frames_dealloc(FramesObject *self)
{
    for (Py_ssize_t i = 0; i < self->n; i++)
        Py_XDECREF(self->objs[i]);
    PyMem_Free(self->recs);
    PyMem_Free(self->objs);
    Py_XDECREF(self->views);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t Frames_len(FramesObject *self) { return self->n; }

/* the payload of record i as a view (a new reference) */
static PyObject *rec_payload(FramesObject *self, Py_ssize_t i)
{
    const frame_rec *r = &self->recs[i];
    if (!HAS_VIEW(*r))
        Py_RETURN_NONE;
    return sub_view(PyList_GET_ITEM(self->views, r->view), (Py_ssize_t)r->start,
                    (Py_ssize_t)r->start + (Py_ssize_t)r->size - OVERHEAD);
}

/* the Frame of record i, made on first use (a borrowed reference) */
static PyObject *frames_get(FramesObject *self, Py_ssize_t i)
{
    if (self->objs[i] == NULL) {
        const frame_rec *r = &self->recs[i];
        self->objs[i] = new_frame(HAS_VIEW(*r) ? PyList_GET_ITEM(self->views, r->view) : NULL, (Py_ssize_t)r->offset, (Py_ssize_t)r->size,
                                  r->tag, r->tid, (Py_ssize_t)r->start, (Py_ssize_t)r->start + (Py_ssize_t)r->size - OVERHEAD);
    }
    return self->objs[i];
}

static PyObject *Frames_item(FramesObject *self, Py_ssize_t i)
{
    if (i < 0 || i >= self->n) {
        PyErr_SetString(PyExc_IndexError, "Frames index out of range");
        return NULL;
    }
    PyObject *frame = frames_get(self, i);
    Py_XINCREF(frame);
    return frame;
}

/* append records [lo, hi) of `src` (sharing its views and made Frames) */
static int frames_extend_from(FramesObject *self, FramesObject *src, Py_ssize_t lo, Py_ssize_t hi)
{
    if (hi <= lo)
        return 0;
    if (frames_reserve(self, hi - lo) < 0)
        return -1;
    Py_ssize_t nviews = PyList_GET_SIZE(src->views);
    Py_ssize_t *remap = PyMem_Calloc((size_t)(nviews ? nviews : 1), sizeof(Py_ssize_t));
    if (remap == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t v = 0; v < nviews; v++)
        remap[v] = -1;
    int failed = 0;
    for (Py_ssize_t i = lo; i < hi && !failed; i++) {
        frame_rec r = src->recs[i];
        if (HAS_VIEW(r)) {
            if (remap[r.view] < 0 && (remap[r.view] = frames_view_index(self, PyList_GET_ITEM(src->views, r.view))) < 0) {
                failed = 1;
                break;
            }
            r.view = (uint32_t)remap[r.view];
        }
        self->recs[self->n] = r;
        Py_XINCREF(src->objs[i]);
        self->objs[self->n] = src->objs[i];
        self->n++;
    }
    PyMem_Free(remap);
    return failed ? -1 : 0;
}

static PyObject *Frames_subscript(FramesObject *self, PyObject *key)
{
    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred())
            return NULL;
        if (i < 0)
            i += self->n;
        return Frames_item(self, i);
    }
    if (!PySlice_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "Frames indices must be integers or slices");
        return NULL;
    }
    Py_ssize_t start, stop, step;
    if (PySlice_Unpack(key, &start, &stop, &step) < 0)
        return NULL;
    Py_ssize_t len = PySlice_AdjustIndices(self->n, &start, &stop, step);
    if (step != 1) {
        PyObject *list = PyList_New(len);
        for (Py_ssize_t k = 0; list != NULL && k < len; k++) {
            PyObject *frame = Frames_item(self, start + k * step);
            if (frame == NULL)
                Py_CLEAR(list);
            else
                PyList_SET_ITEM(list, k, frame);
        }
        return list;
    }
    FramesObject *out = (FramesObject *)Frames_new(&Frames_Type, NULL, NULL);
    if (out != NULL && frames_extend_from(out, self, start, start + len) < 0)
        Py_CLEAR(out);
    return (PyObject *)out;
}

static int as_u64(PyObject *value, unsigned long long *out);

/* frames.append(frame): a Frame object, kept as it is */
static PyObject *Frames_append(FramesObject *self, PyObject *frame)
{
    if (frame_type == NULL || Py_TYPE(frame) != frame_type) {
        PyErr_SetString(PyExc_TypeError, "Frames.append() takes a Frame");
        return NULL;
    }
    unsigned long long offset, size, tag, tid;
    if (!as_u64(get_slot(frame, frame_offsets[F_OFFSET]), &offset) || !as_u64(get_slot(frame, frame_offsets[F_SIZE]), &size)
        || !as_u64(get_slot(frame, frame_offsets[F_TAG]), &tag) || !as_u64(get_slot(frame, frame_offsets[F_TID]), &tid)
        || size > UINT32_MAX || offset > INT64_MAX) {
        PyErr_SetString(PyExc_TypeError, "Frames.append(): a frame with an unset or out-of-range field");
        return NULL;
    }
    if (frames_reserve(self, 1) < 0)
        return NULL;
    frame_rec r = {(int64_t)offset, 0, tag, tid, (uint32_t)size, NO_VIEW, -1, 0};
    self->recs[self->n] = r;
    Py_INCREF(frame);
    self->objs[self->n] = frame;
    self->n++;
    Py_RETURN_NONE;
}

/* frames.extend(other): every frame of another Frames, or of an iterable of Frame objects */
static PyObject *Frames_extend(FramesObject *self, PyObject *other)
{
    if (Frames_Check(other)) {
        FramesObject *src = (FramesObject *)other;
        if (frames_extend_from(self, src, 0, src->n) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    PyObject *it = PyObject_GetIter(other);
    if (it == NULL)
        return NULL;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *done = Frames_append(self, item);
        Py_DECREF(item);
        if (done == NULL) {
            Py_DECREF(it);
            return NULL;
        }
        Py_DECREF(done);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* frames.has(tag_tid, entry_tid) -> bool: whether a frame of these tids is among them */
static PyObject *Frames_has(FramesObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned long long tag, tid;
    if (nargs != 2 || !as_u64(args[0], &tag) || !as_u64(args[1], &tid)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "Frames.has(tag_tid, entry_tid) takes two integers in [0, 2**64)");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < self->n; i++)
        if (self->recs[i].tag == tag && self->recs[i].tid == tid)
            Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

/* frames.drop_payloads() -> int: let go of the payload bytes of the records whose event was found, while
 * they were read, to be an IO event in a compiled shape, and that have no Frame made; the chunks no record
 * needs any more are freed with the Frames' reference to them.  What a walk that only counts does: their
 * Frames come with payload None ("checked: an IO event in librbd's shape"). */
static PyObject *Frames_drop_payloads(FramesObject *self, PyObject *unused)
{
    (void)unused;
    Py_ssize_t nviews = PyList_GET_SIZE(self->views), dropped = 0;
    if (nviews == 0)
        return PyLong_FromSsize_t(0);
    Py_ssize_t *remap = PyMem_Calloc((size_t)nviews, sizeof(Py_ssize_t));
    if (remap == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < self->n; i++) {
        frame_rec *r = &self->recs[i];
        if (!HAS_VIEW(*r))
            continue;
        if (self->objs[i] == NULL && r->shapes == shapes_generation && shapes_generation != 0 && r->type >= 0) {
            r->view = DROPPED_VIEW;
            dropped++;
        } else {
            remap[r->view] = 1;  /* still needed */
        }
    }
    PyObject *kept = PyList_New(0);
    int failed = kept == NULL;
    for (Py_ssize_t v = 0; v < nviews && !failed; v++) {
        if (remap[v]) {
            remap[v] = PyList_GET_SIZE(kept);
            failed = PyList_Append(kept, PyList_GET_ITEM(self->views, v)) < 0;
        }
    }
    if (!failed) {
        for (Py_ssize_t i = 0; i < self->n; i++)
            if (HAS_VIEW(self->recs[i]))
                self->recs[i].view = (uint32_t)remap[self->recs[i].view];
        Py_SETREF(self->views, kept);
    } else {
        Py_XDECREF(kept);
    }
    PyMem_Free(remap);
    return failed ? NULL : PyLong_FromSsize_t(dropped);
}

static PySequenceMethods Frames_as_sequence = {
    .sq_length = (lenfunc)Frames_len,
    .sq_item = (ssizeargfunc)Frames_item,
};

static PyMappingMethods Frames_as_mapping = {
    .mp_length = (lenfunc)Frames_len,
    .mp_subscript = (binaryfunc)Frames_subscript,
};

static PyMethodDef Frames_methods[] = {
    {"append", (PyCFunction)Frames_append, METH_O, "append(frame): add a Frame"},
    {"has", (PyCFunction)(void (*)(void))Frames_has, METH_FASTCALL,
     "has(tag_tid, entry_tid) -> bool: whether a frame of these tids is among them"},
    {"extend", (PyCFunction)Frames_extend, METH_O, "extend(frames): add every frame of a Frames or an iterable of Frames"},
    {"drop_payloads", (PyCFunction)Frames_drop_payloads, METH_NOARGS,
     "drop_payloads() -> int: let go of the payloads of the records whose event was found to be an IO event in a compiled shape"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Frames_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "journaltools._native.Frames",
    .tp_basicsize = sizeof(FramesObject),
    .tp_dealloc = (destructor)Frames_dealloc,
    .tp_as_sequence = &Frames_as_sequence,
    .tp_as_mapping = &Frames_as_mapping,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_SEQUENCE,
    .tp_doc = "A run of entry frames kept as offsets into the chunks read (ok_run's compact output); "
              "items are Frame objects, made on first use",
    .tp_methods = Frames_methods,
    .tp_new = Frames_new,
};

/* ---- ok_run ------------------------------------------------------------------------------------ */

static inline uint64_t le64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t le32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* frames of at least this many bytes are crc'd three at once (crc_update3) */
#define CRC3_MIN 1024

/* the size of the frame at `at` when its head is well-formed and it ends by `end`, else 0 */
static inline size_t frame_size_at(const unsigned char *data, Py_ssize_t at, Py_ssize_t end)
{
    if (at + HEAD_SIZE > end)
        return 0;
    const unsigned char *p = data + at;
    if (le64(p) != PREAMBLE || p[8] != VERSION)
        return 0;
    uint32_t length = le32(p + 25);
    if (length > UINT32_MAX - OVERHEAD || at + HEAD_SIZE + (Py_ssize_t)length + 4 > end)
        return 0;
    return (size_t)length + OVERHEAD;
}

/* record_frames without the GIL from this many bytes on, OK_RUN_BATCH frames at a time (records reserved with it) */
#define OK_RUN_UNLOCKED (64 << 10)
#define OK_RUN_BATCH 1024

/* Append to `run` the records of the well-formed frames from *off on (offsets shifted by `base`, payloads in
 * view `view_index`), moving *off past them; stop at the end or at a frame that is not one (or whose length
 * a record cannot hold: ok_run makes a Frame of it).  From OK_RUN_UNLOCKED bytes on without the GIL, so
 * that the threads that bring the next chunks (the read-ahead's reader, librados' completions) run
 * meanwhile: OK_RUN_BATCH records at a time, reserved with it.  -1 with an exception set, else 0. */
static int record_frames(FramesObject *run, const unsigned char *data, Py_ssize_t *offp, Py_ssize_t end,
                         Py_ssize_t base, uint32_t view_index)
{
    Py_ssize_t off = *offp;
    int full;
    do {
        Py_ssize_t fit = (end - off) / OVERHEAD + 1;  /* no more frames than that fit in what is left */
        Py_ssize_t batch = fit < OK_RUN_BATCH ? fit : OK_RUN_BATCH;
        if (frames_reserve(run, batch) < 0)
            return -1;
        frame_rec *recs = run->recs;
        Py_ssize_t n = run->n, limit = run->n + batch;
        int typed = event_version >= 0;
        uint32_t generation = shapes_generation;
        PyThreadState *saved = end - off >= OK_RUN_UNLOCKED ? PyEval_SaveThread() : NULL;
        int more = 1;
        while (more && n < limit) {
            /* the frame at off; with two more after it, each of at least CRC3_MIN bytes, all three at once */
            size_t size[3] = {frame_size_at(data, off, end), 0, 0};
            uint32_t crc[3];
            int k = 1;
            if (size[0] == 0)
                break;
            if (size[0] >= CRC3_MIN && n + 3 <= limit
                && (size[1] = frame_size_at(data, off + (Py_ssize_t)size[0], end)) >= CRC3_MIN
                && (size[2] = frame_size_at(data, off + (Py_ssize_t)(size[0] + size[1]), end)) >= CRC3_MIN) {
                const unsigned char *at[3] = {data + off, data + off + size[0], data + off + size[0] + size[1]};
                crc_update3(at, size, crc);
                k = 3;
            } else {
                crc[0] = crc_update(0, data + off, size[0]);
            }
            for (int i = 0; i < k; i++) {
                if (crc[i] != 0) {  /* Ceph's crc32c of bytes followed by their own crc (little-endian) is 0 */
                    more = 0;
                    break;
                }
                const unsigned char *p = data + off;
                uint32_t length = (uint32_t)(size[i] - OVERHEAD);
                frame_rec r = {(int64_t)(base + off), (int64_t)(off + HEAD_SIZE), le64(p + 17), le64(p + 9),
                               (uint32_t)size[i], view_index, -1, 0};
                if (typed) {  /* the payload was just read by the crc: its shape costs no cache misses now */
                    r.type = (int32_t)shape_of(p + HEAD_SIZE, (Py_ssize_t)length);
                    r.shapes = generation;
                }
                recs[n++] = r;
                off += (Py_ssize_t)size[i];
            }
        }
        if (saved != NULL)
            PyEval_RestoreThread(saved);
        for (Py_ssize_t i = run->n; i < n; i++)
            run->objs[i] = NULL;
        full = n == limit;
        run->n = n;
    } while (full);
    *offp = off;
    return 0;
}

/* ok_run(view, off, end, base, frames) -> int: scan.py's _ok_run */
static PyObject *ok_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "ok_run(view, off, end, base, frames) takes 5 arguments");
        return NULL;
    }
    if (frame_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "ok_run() before set_frame_type()");
        return NULL;
    }
    PyObject *view = args[0], *frames = args[4];
    Py_ssize_t off = PyLong_AsSsize_t(args[1]);
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    Py_ssize_t base = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred())
        return NULL;
    int compact = Frames_Check(frames);
    if (!compact && !PyList_Check(frames)) {
        PyErr_SetString(PyExc_TypeError, "ok_run() needs a list of frames or a Frames");
        return NULL;
    }
    Py_buffer buf;
    if (PyObject_GetBuffer(view, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *data = buf.buf;
    if (end > buf.len)
        end = buf.len;  /* the Python loop's unpack would fail past the buffer: the callers never ask */
    if (off < 0)
        off = 0;
    PyObject *result = NULL;
    FramesObject *run = (FramesObject *)frames;
    Py_ssize_t view_index = -1;
    while (off + HEAD_SIZE <= end) {
        if (compact) {  /* records, as far as they go; the code below takes the one frame they stop at */
            if ((view_index < 0 && (view_index = frames_view_index(run, view)) < 0)
                || record_frames(run, data, &off, end, base, (uint32_t)view_index) < 0)
                goto done;
            if (off + HEAD_SIZE > end)
                break;
        }
        const unsigned char *p = data + off;
        if (le64(p) != PREAMBLE || p[8] != VERSION)
            break;
        uint32_t length = le32(p + 25);
        Py_ssize_t after = off + HEAD_SIZE + (Py_ssize_t)length + 4;
        if (after > end)
            break;
        /* Ceph's crc32c of bytes followed by their own crc (little-endian) is 0 */
        if (crc_update(0, p, (size_t)(after - off)) != 0)
            break;
        PyObject *frame = new_frame(view, base + off, (Py_ssize_t)length + OVERHEAD, le64(p + 17), le64(p + 9),
                                    off + HEAD_SIZE, after - 4);
        if (frame == NULL)
            goto done;
        int appended;
        if (compact) {
            PyObject *done_ = Frames_append(run, frame);
            appended = done_ == NULL ? -1 : 0;
            Py_XDECREF(done_);
        } else {
            appended = PyList_Append(frames, frame);
        }
        Py_DECREF(frame);
        if (appended < 0)
            goto done;
        off = after;
    }
    result = PyLong_FromSsize_t(off);
done:
    PyBuffer_Release(&buf);
    return result;
}

/* ---- event_type: journaltools/format/event_fastpath.py's fast_event_type ------------------------- */

/* per event type id: the offset of the trailing bufferlist's u32 length (0: none) and the body bytes
 * besides the bufferlist's data, or blob_at -1 when the type has no compiled layout; given by
 * event_fastpath.py (set_event_shapes), which compiles them from the EventEntry declaration */
#define MAX_SHAPES 256
static Py_ssize_t shape_blob_at[MAX_SHAPES];
static Py_ssize_t shape_fixed_body[MAX_SHAPES];
static Py_ssize_t n_shapes;
static int event_version = -1;
static unsigned char meta_head[6];
#define META_SIZE 14
#define MIN_EVENT 24  /* envelope (10) + metadata block (14) */
static PyObject *small_ints[MAX_SHAPES];

static PyObject *set_event_shapes(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *shapes;
    int version;
    Py_buffer head;
    if (!PyArg_ParseTuple(args, "O!iy*", &PyList_Type, &shapes, &version, &head))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(shapes);
    int ok = head.len == 6 && n <= MAX_SHAPES;
    Py_ssize_t blob_at[MAX_SHAPES], fixed_body[MAX_SHAPES];
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        PyObject *item = PyList_GET_ITEM(shapes, i);
        if (item == Py_None) {
            blob_at[i] = -1;
            fixed_body[i] = 0;
        } else if (!PyArg_ParseTuple(item, "nn", &blob_at[i], &fixed_body[i]) || blob_at[i] < 0 || fixed_body[i] < 0) {
            ok = 0;
        }
    }
    if (ok) {
        memcpy(meta_head, head.buf, 6);
        memcpy(shape_blob_at, blob_at, sizeof(Py_ssize_t) * (size_t)n);
        memcpy(shape_fixed_body, fixed_body, sizeof(Py_ssize_t) * (size_t)n);
        n_shapes = n;
        event_version = version;
        shapes_generation++;
        for (Py_ssize_t i = 0; i < n && small_ints[i] == NULL; i++)
            if ((small_ints[i] = PyLong_FromSsize_t(i)) == NULL)
                ok = 0;
    }
    PyBuffer_Release(&head);
    if (!ok) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "set_event_shapes(shapes, version, meta_head): bad shapes");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* the event type of a payload in a compiled shape, or -1 (set_event_shapes must have been called) */
static Py_ssize_t shape_of(const unsigned char *p, Py_ssize_t size)
{
    if (size >= MIN_EVENT && p[0] == event_version && p[1] == 1) {
        Py_ssize_t body = (Py_ssize_t)le32(p + 2);
        uint32_t type = le32(p + 6);
        if (body == size - 6 - META_SIZE && type < (uint64_t)n_shapes && shape_blob_at[type] >= 0) {
            Py_ssize_t blob_at = shape_blob_at[type], fixed_body = shape_fixed_body[type];
            int fits;
            if (blob_at)
                fits = body >= fixed_body && blob_at + 4 <= size && (Py_ssize_t)le32(p + blob_at) == body - fixed_body;
            else
                fits = body == fixed_body;
            if (fits && memcmp(p + size - META_SIZE, meta_head, 6) == 0)
                return (Py_ssize_t)type;
        }
    }
    return -1;
}

/* event_type(payload) -> int | None */
static PyObject *event_type(PyObject *self, PyObject *payload)
{
    (void)self;
    if (event_version < 0) {
        PyErr_SetString(PyExc_RuntimeError, "event_type() before set_event_shapes()");
        return NULL;
    }
    Py_buffer buf;
    if (PyObject_GetBuffer(payload, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t type = shape_of(buf.buf, buf.len);
    PyBuffer_Release(&buf);
    PyObject *result = type < 0 ? Py_None : small_ints[type];
    Py_INCREF(result);
    return result;
}

/* ---- replay_run: journaltools/journal/walk.py's _replay_run_python --------------------------------- */

static int as_u64(PyObject *value, unsigned long long *out)
{
    if (value == NULL || !PyLong_CheckExact(value))
        return 0;
    *out = PyLong_AsUnsignedLongLong(value);
    if (*out == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* a JournalEntry of the given field values (new references, any NULL: fails after setting the rest) */
static PyObject *entry_of(PyObject *values[N_ENTRY_FIELDS])
{
    PyObject *entry = entry_type->tp_alloc(entry_type, 0);
    int failed = entry == NULL;
    for (int i = 0; i < N_ENTRY_FIELDS; i++) {
        if (values[i] == NULL)
            failed = 1;
        if (entry == NULL) {
            Py_XDECREF(values[i]);
            continue;
        }
        PyObject **slot = (PyObject **)((char *)entry + entry_offsets[i]);
        Py_XSETREF(*slot, values[i]);
    }
    if (failed) {
        Py_XDECREF(entry);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "replay_run(): a frame with an unset field");
        return NULL;
    }
    untrack(entry);
    return entry;
}

static PyObject *new_entry(PyObject *number, PyObject *name, PyObject *frame, Py_ssize_t commit_tid)
{
    PyObject *values[N_ENTRY_FIELDS] = {
        number, name, get_slot(frame, frame_offsets[F_OFFSET]), get_slot(frame, frame_offsets[F_SIZE]),
        get_slot(frame, frame_offsets[F_TAG]), get_slot(frame, frame_offsets[F_TID]), NULL,
        get_slot(frame, frame_offsets[F_PAYLOAD]),
    };
    for (int i = 0; i < N_ENTRY_FIELDS; i++)
        Py_XINCREF(values[i]);
    values[6] = PyLong_FromSsize_t(commit_tid);
    return entry_of(values);
}

/* the entry of record i of a Frames that has no Frame made (its integers and payload view made here) */
static PyObject *rec_entry(PyObject *number, PyObject *name, FramesObject *run, Py_ssize_t i, Py_ssize_t commit_tid)
{
    const frame_rec *r = &run->recs[i];
    Py_INCREF(number);
    Py_INCREF(name);
    PyObject *values[N_ENTRY_FIELDS] = {
        number, name, PyLong_FromLongLong(r->offset), cached_int(&last_size, &last_size_value, r->size),
        cached_int(&last_tag, &last_tag_value, r->tag), PyLong_FromUnsignedLongLong(r->tid),
        PyLong_FromSsize_t(commit_tid), rec_payload(run, i),
    };
    return entry_of(values);
}

/* the payload bytes of record i (a view's bytes: valid while the Frames lives); 0 when there are none */
static int rec_bytes(FramesObject *run, Py_ssize_t i, const unsigned char **p, Py_ssize_t *len)
{
    const frame_rec *r = &run->recs[i];
    if (!HAS_VIEW(*r))
        return 0;
    PyObject *view = PyList_GET_ITEM(run->views, r->view);
    if (!PyMemoryView_Check(view) || (((PyMemoryViewObject *)view)->flags & _Py_MEMORYVIEW_RELEASED))
        return 0;
    const Py_buffer *b = PyMemoryView_GET_BUFFER(view);
    Py_ssize_t n = (Py_ssize_t)r->size - OVERHEAD;
    if (r->start < 0 || (Py_ssize_t)r->start + n > b->len)
        return 0;
    *p = (const unsigned char *)b->buf + r->start;
    *len = n;
    return 1;
}

/* Whether frame i of a stream's frames (a list of Frame objects or a Frames) continues the replay's run:
 * there, with no problems attached, entry `want` of tag `active`, and (check_events) an IO event in a
 * compiled shape.  Sets *frame to its Frame object, or to NULL and *run to the Frames when its record has
 * no Frame made. */
static int continues_run(PyObject *frames, Py_ssize_t i, unsigned long long active, unsigned long long want,
                         int check_events, PyObject **frame, FramesObject **run)
{
    *run = NULL;
    if (Frames_Check(frames)) {
        FramesObject *fr = (FramesObject *)frames;
        if (i < 0 || i >= fr->n)
            return 0;
        *frame = fr->objs[i];
        if (*frame == NULL) {
            const frame_rec *r = &fr->recs[i];
            const unsigned char *p;
            Py_ssize_t len;
            if (r->tag != active || r->tid != want)
                return 0;
            if (check_events && (r->shapes == shapes_generation ? r->type < 0
                                 : !rec_bytes(fr, i, &p, &len) || shape_of(p, len) < 0))
                return 0;
            *run = fr;
            return 1;
        }
    } else {
        if (i < 0 || i >= PyList_GET_SIZE(frames))
            return 0;
        *frame = PyList_GET_ITEM(frames, i);
    }
    PyObject *f = *frame;
    unsigned long long tag, tid;
    if (Py_TYPE(f) != frame_type || get_slot(f, frame_offsets[F_PROBLEMS]) != Py_None
        || !as_u64(get_slot(f, frame_offsets[F_TAG]), &tag) || tag != active
        || !as_u64(get_slot(f, frame_offsets[F_TID]), &tid) || tid != want)
        return 0;
    if (check_events) {
        Py_buffer buf;
        PyObject *payload = get_slot(f, frame_offsets[F_PAYLOAD]);
        if (payload == Py_None)  /* dropped (Frames.drop_payloads): checked as it was read */
            return 1;
        if (payload == NULL || PyObject_GetBuffer(payload, &buf, PyBUF_SIMPLE) < 0) {
            PyErr_Clear();
            return 0;
        }
        Py_ssize_t type = shape_of(buf.buf, buf.len);
        PyBuffer_Release(&buf);
        if (type < 0)
            return 0;
    }
    return 1;
}

/* replay_run(streams, splay, active, want, commit_tid, check_events, numbers, names, out, limit)
 *   -> (splay, count): walk.py's _replay_run_python */
static PyObject *replay_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError,
                        "replay_run(streams, splay, active, want, commit_tid, check_events, numbers, names, out, limit)");
        return NULL;
    }
    PyObject *streams = args[0], *numbers = args[6], *names = args[7], *out = args[8];
    Py_ssize_t splay = PyLong_AsSsize_t(args[1]);
    unsigned long long active = PyLong_AsUnsignedLongLong(args[2]);
    unsigned long long want = PyLong_AsUnsignedLongLong(args[3]);
    Py_ssize_t commit_tid = PyLong_AsSsize_t(args[4]);
    int check_events = PyObject_IsTrue(args[5]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[9]);
    if (PyErr_Occurred())
        return NULL;
    if (frame_type == NULL || entry_type == NULL || (check_events && event_version < 0)) {
        PyErr_SetString(PyExc_RuntimeError, "replay_run() before set_frame_type(), set_entry_type() or set_event_shapes()");
        return NULL;
    }
    if (!PyList_Check(streams) || PyList_GET_SIZE(streams) == 0) {
        PyErr_SetString(PyExc_TypeError, "replay_run() needs a list of streams");
        return NULL;
    }
    Py_ssize_t width = PyList_GET_SIZE(streams);
    int build = out != Py_None;
    if (build && !(PyList_Check(out) && PyList_Check(numbers) && PyList_Check(names)
                   && PyList_GET_SIZE(numbers) == width && PyList_GET_SIZE(names) == width)) {
        PyErr_SetString(PyExc_TypeError, "replay_run() needs a list per stream of object numbers and names, and a list out");
        return NULL;
    }
    if (splay < 0 || splay >= width) {
        PyErr_SetString(PyExc_ValueError, "replay_run(): splay out of range");
        return NULL;
    }
    PyObject **frames = PyMem_Calloc((size_t)width, sizeof(PyObject *));
    Py_ssize_t *index = PyMem_Calloc((size_t)width, sizeof(Py_ssize_t));
    Py_ssize_t *start = PyMem_Calloc((size_t)width, sizeof(Py_ssize_t));
    PyObject *result = NULL;
    if (frames == NULL || index == NULL || start == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < width; k++) {
        PyObject *stream = PyList_GET_ITEM(streams, k);
        frames[k] = PyObject_GetAttrString(stream, "frames");
        if (frames[k] == NULL)
            goto done;
        if (!PyList_Check(frames[k]) && !Frames_Check(frames[k])) {
            PyErr_SetString(PyExc_TypeError, "replay_run(): a stream's frames are not a list or a Frames");
            goto done;
        }
        PyObject *at = PyObject_GetAttrString(stream, "index");
        if (at == NULL)
            goto done;
        index[k] = start[k] = PyLong_AsSsize_t(at);
        Py_DECREF(at);
        if (PyErr_Occurred())
            goto done;
    }
    Py_ssize_t k = splay, count = 0;
    int failed = 0;
    while (count < limit) {
        PyObject *frame;
        FramesObject *run;
        if (!continues_run(frames[k], index[k], active, want, check_events, &frame, &run))
            break;
        if (build) {
            PyObject *entry = run != NULL
                ? rec_entry(PyList_GET_ITEM(numbers, k), PyList_GET_ITEM(names, k), run, index[k], commit_tid + 1)
                : new_entry(PyList_GET_ITEM(numbers, k), PyList_GET_ITEM(names, k), frame, commit_tid + 1);
            if (entry == NULL || PyList_Append(out, entry) < 0) {
                Py_XDECREF(entry);
                failed = 1;
                break;
            }
            Py_DECREF(entry);
        }
        commit_tid++;
        index[k]++;
        want++;
        count++;
        k = k + 1 == width ? 0 : k + 1;
    }
    /* the streams move on by what was taken, also when building an entry failed */
    for (Py_ssize_t j = 0; j < width; j++) {
        if (index[j] == start[j])
            continue;
        PyObject *at = PyLong_FromSsize_t(index[j]);
        if (at == NULL || PyObject_SetAttrString(PyList_GET_ITEM(streams, j), "index", at) < 0)
            failed = 1;
        Py_XDECREF(at);
    }
    if (!failed)
        result = Py_BuildValue("nn", k, count);
done:
    if (frames != NULL)
        for (Py_ssize_t j = 0; j < width; j++)
            Py_XDECREF(frames[j]);
    PyMem_Free(frames);
    PyMem_Free(index);
    PyMem_Free(start);
    return result;
}

/* crc32c(data, seed=0) -> int: Ceph's ceph_crc32c (register seed as is, no final inversion) */
static PyObject *ceph_crc32c(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "ceph_crc32c(data, seed=0)");
        return NULL;
    }
    unsigned long seed = 0;
    if (nargs == 2) {
        seed = PyLong_AsUnsignedLongMask(args[1]);
        if (PyErr_Occurred())
            return NULL;
    }
    Py_buffer buf;
    if (PyObject_GetBuffer(args[0], &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    uint32_t crc = crc_update((uint32_t)seed, buf.buf, (size_t)buf.len);
    PyBuffer_Release(&buf);
    return PyLong_FromUnsignedLong(crc);
}

/* ---- order_run: journaltools/journal/walk.py's _order_run_python ---------------------------------- */

/* flush the current tag's last entry tid into the dict */
static int store_last(PyObject *last_in_tag, unsigned long long tag, unsigned long long last)
{
    PyObject *key = PyLong_FromUnsignedLongLong(tag), *value = PyLong_FromUnsignedLongLong(last);
    int failed = key == NULL || value == NULL || PyDict_SetItem(last_in_tag, key, value) < 0;
    Py_XDECREF(key);
    Py_XDECREF(value);
    return failed ? -1 : 0;
}

/* the tids of frame i of a list of Frame objects or of a Frames; 0 with a TypeError when it is not a frame */
static int frame_tids(PyObject *frames, Py_ssize_t i, unsigned long long *tag, unsigned long long *tid)
{
    if (Frames_Check(frames)) {
        const frame_rec *r = &((FramesObject *)frames)->recs[i];
        *tag = r->tag;
        *tid = r->tid;
        return 1;
    }
    PyObject *frame = PyList_GET_ITEM(frames, i);
    if (Py_TYPE(frame) != frame_type || !as_u64(get_slot(frame, frame_offsets[F_TAG]), tag)
        || !as_u64(get_slot(frame, frame_offsets[F_TID]), tid)) {
        PyErr_SetString(PyExc_TypeError, "order_run(): not a frame with integer tids");
        return 0;
    }
    return 1;
}

/* order_run(frames, width, offset) -> (checked, last_in_tag, misplaced) */
static PyObject *order_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !(PyList_Check(args[0]) || Frames_Check(args[0]))) {
        PyErr_SetString(PyExc_TypeError, "order_run(frames: list | Frames, width, offset)");
        return NULL;
    }
    if (frame_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "order_run() before set_frame_type()");
        return NULL;
    }
    PyObject *frames = args[0];
    unsigned long long width = PyLong_AsUnsignedLongLong(args[1]);
    unsigned long long offset = PyLong_AsUnsignedLongLong(args[2]);
    if (PyErr_Occurred())
        return NULL;
    if (width == 0) {
        PyErr_SetString(PyExc_ValueError, "order_run(): width 0");
        return NULL;
    }
    PyObject *last_in_tag = PyDict_New(), *misplaced = PyList_New(0);
    int have_tag = 0;  /* the tag of the frames seen last is ``tag``; its last tid is ``last`` (not yet in the dict) */
    unsigned long long tag = 0, last = 0;
    Py_ssize_t n = Frames_Check(frames) ? ((FramesObject *)frames)->n : PyList_GET_SIZE(frames), checked = n;
    if (last_in_tag == NULL || misplaced == NULL)
        goto error;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long long ftag, tid;
        if (!frame_tids(frames, i, &ftag, &tid))
            goto error;
        if (!have_tag || ftag != tag) {
            if (have_tag && store_last(last_in_tag, tag, last) < 0)
                goto error;
            PyObject *key = PyLong_FromUnsignedLongLong(ftag);
            if (key == NULL)
                goto error;
            PyObject *prev = PyDict_GetItemWithError(last_in_tag, key);
            Py_DECREF(key);
            if (prev == NULL && PyErr_Occurred())
                goto error;
            if (prev != NULL) {
                unsigned long long before = PyLong_AsUnsignedLongLong(prev);
                if (before == (unsigned long long)-1 && PyErr_Occurred())
                    goto error;
                if (tid <= before) {
                    checked = i;
                    have_tag = 0;  /* the dict holds every tag's last tid */
                    break;
                }
            }
            have_tag = 1;
            tag = ftag;
        } else if (tid <= last) {
            checked = i;
            break;
        }
        last = tid;
        if (tid % width != offset) {
            PyObject *at = PyLong_FromSsize_t(i);
            if (at == NULL || PyList_Append(misplaced, at) < 0) {
                Py_XDECREF(at);
                goto error;
            }
            Py_DECREF(at);
        }
    }
    if (have_tag && store_last(last_in_tag, tag, last) < 0)
        goto error;
    PyObject *result = Py_BuildValue("nNN", checked, last_in_tag, misplaced);
    return result;
error:
    Py_XDECREF(last_in_tag);
    Py_XDECREF(misplaced);
    return NULL;
}

/* keep_freed_chunks(largest, keep) -> bool: serve allocations up to ``largest`` bytes from the heap and keep
 * up to ``keep`` freed bytes there (glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD), so the walk's 1 MiB
 * chunks reuse freed memory instead of mapping fresh, zeroed pages for each; False where there is no mallopt */
static PyObject *keep_freed_chunks(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "keep_freed_chunks(largest, keep)");
        return NULL;
    }
    long largest = PyLong_AsLong(args[0]), keep = PyLong_AsLong(args[1]);
    if (PyErr_Occurred())
        return NULL;
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    if (largest < 0 || largest > 32L * 1024 * 1024 || keep < 0 || keep > 1024L * 1024 * 1024) {
        PyErr_SetString(PyExc_ValueError, "keep_freed_chunks(): largest at most 32 MiB, keep at most 1 GiB");
        return NULL;
    }
    int ok = mallopt(M_MMAP_THRESHOLD, (int)largest) && mallopt(M_TRIM_THRESHOLD, (int)keep);
    return PyBool_FromLong(ok);
#else
    Py_RETURN_FALSE;
#endif
}

/* huge_heap(pad) -> int: grow the heap by `pad` bytes it has not touched yet and ask the kernel for
 * transparent huge pages there (madvise MADV_HUGEPAGE, what glibc's glibc.malloc.hugetlb=1 tunable does for
 * each growth, which a process cannot set once started): the chunks a walk holds (a set of objects, read
 * into fresh memory) then fault in 2 MiB at a time instead of 4 KiB (64 MiB: 32 faults, not 16,384).  The
 * pad is address space, not memory, until touched; the trim threshold is raised above it so that freeing
 * does not give it back at once.  Returns the bytes advised (0: not possible here; THP "never" makes it a
 * no-op).  Call once, after keep_freed_chunks (the chunks must come from the heap, not from mmap). */
static PyObject *huge_heap(PyObject *self, PyObject *arg)
{
    (void)self;
    long pad = PyLong_AsLong(arg);
    if (pad == -1 && PyErr_Occurred())
        return NULL;
    if (pad < 0 || pad > 1024L * 1024 * 1024) {
        PyErr_SetString(PyExc_ValueError, "huge_heap(): pad in [0, 1 GiB]");
        return NULL;
    }
#if defined(__GLIBC__) && defined(M_TOP_PAD) && defined(M_TRIM_THRESHOLD) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = 2u << 20;
    if (pad < (long)(4 * huge))
        return PyLong_FromLong(0);
    if (!mallopt(M_TRIM_THRESHOLD, (int)(2 * pad)) || !mallopt(M_TOP_PAD, (int)pad))
        return PyLong_FromLong(0);
    /* 1 MiB heap blocks (malloc writes only their headers) until one makes the heap grow, by the pad */
    enum { PROBE = 1 << 20, PROBES = 64 };
    void *probes[PROBES];
    int n = 0;
    char *before = sbrk(0), *after = before;
    while (before != (char *)-1 && n < PROBES && after == before && (probes[n] = malloc(PROBE)) != NULL) {
        n++;
        after = sbrk(0);
    }
    mallopt(M_TOP_PAD, 128 << 10);  /* glibc's default again for later growth */
    long advised = 0;
    if (n > 0 && after != (char *)-1 && after > before) {
        uintptr_t lo = ((uintptr_t)probes[n - 1] + PROBE + 4096 + huge - 1) & ~(huge - 1);
        uintptr_t hi = (uintptr_t)after & ~(huge - 1);
        if (hi > lo && madvise((void *)lo, hi - lo, MADV_HUGEPAGE) == 0)
            advised = (long)(hi - lo);
    }
    while (n > 0)
        free(probes[--n]);
    return PyLong_FromLong(advised);
#else
    return PyLong_FromLong(0);
#endif
}

static PyObject *hardware_crc(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyBool_FromLong(have_sse42);
}

static PyObject *set_hardware_crc(PyObject *self, PyObject *flag)
{
    (void)self;
    int on = PyObject_IsTrue(flag);
    if (on < 0)
        return NULL;
#ifdef HAVE_X86_CRC
    have_sse42 = on && __builtin_cpu_supports("sse4.2");
#else
    have_sse42 = 0;
#endif
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"ok_run", (PyCFunction)(void (*)(void))ok_run, METH_FASTCALL,
     "ok_run(view, off, end, base, frames) -> int: append the well-formed frames from off on; return where they stop"},
    {"set_frame_type", set_frame_type, METH_O, "set_frame_type(cls): the slots class ok_run builds frames of"},
    {"set_entry_type", set_entry_type, METH_O, "set_entry_type(cls): the slots class replay_run builds entries of"},
    {"replay_run", (PyCFunction)(void (*)(void))replay_run, METH_FASTCALL,
     "replay_run(streams, splay, active, want, commit_tid, check_events, numbers, names, out, limit) -> (splay, count): "
     "the replay's run of in-sequence entries (journal/walk.py's _replay_run_python)"},
    {"ceph_crc32c", (PyCFunction)(void (*)(void))ceph_crc32c, METH_FASTCALL,
     "ceph_crc32c(data, seed=0) -> int: Ceph's crc32c convention (no inversion)"},
    {"set_event_shapes", set_event_shapes, METH_VARARGS,
     "set_event_shapes(shapes, version, meta_head): the compiled event layouts event_type checks against"},
    {"event_type", event_type, METH_O,
     "event_type(payload) -> int | None: the event type of a payload in a compiled shape (event_fastpath.fast_event_type)"},
    {"order_run", (PyCFunction)(void (*)(void))order_run, METH_FASTCALL,
     "order_run(frames, width, offset) -> (checked, last_in_tag, misplaced): the walk's check of a healthy run "
     "(journal/walk.py's _order_run_python)"},
    {"keep_freed_chunks", (PyCFunction)(void (*)(void))keep_freed_chunks, METH_FASTCALL,
     "keep_freed_chunks(largest, keep) -> bool: serve allocations up to largest bytes from the heap, keep up to keep freed bytes"},
    {"huge_heap", huge_heap, METH_O,
     "huge_heap(pad) -> int: grow the heap by pad untouched bytes advised for transparent huge pages"},
    {"hardware_crc", hardware_crc, METH_NOARGS, "hardware_crc() -> bool: whether the SSE4.2 crc32 instruction is in use"},
    {"set_hardware_crc", set_hardware_crc, METH_O, "set_hardware_crc(flag): use the SSE4.2 instruction (if present) or the table"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "journaltools._native",
    "The frame scanner's hot loop in C (journaltools/journal/scan.py is the reference).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void)
{
    const uint16_t probe = 1;
    if (*(const unsigned char *)&probe != 1) {
        PyErr_SetString(PyExc_ImportError, "journaltools._native supports little-endian hosts only");
        return NULL;
    }
    crc_table_init();
#ifdef HAVE_X86_CRC
    crc_shift_init(crc_shift_long, CRC_LONG);
    crc_shift_init(crc_shift_short, CRC_SHORT);
    __builtin_cpu_init();
    have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
    if (PyType_Ready(&Frames_Type) < 0)
        return NULL;
    PyObject *mod = PyModule_Create(&module);
    if (mod != NULL && PyModule_AddObjectRef(mod, "Frames", (PyObject *)&Frames_Type) < 0)
        Py_CLEAR(mod);
    return mod;
}
