/*
 * Block deflate, in the calling thread or on worker threads.
 *
 * The entry's data is cut into blocks of BLOCK bytes.  Each block is
 * compressed by a freshly reset raw deflate stream primed with the end of
 * the previous block as its dictionary (the last 32 KiB; 16 KiB at levels
 * 1 to 3, where priming would otherwise cost a tenth of the deflate time
 * for about 0.2% of size), and ends with a sync
 * flush (the last block with Z_FINISH), so the concatenation of the blocks'
 * output is one standard deflate stream.  Block boundaries depend only on
 * the data, never on the number of threads: the output is byte-identical
 * whatever it is, and with one thread the blocks are compressed in the
 * calling thread with no thread started at all.
 *
 * With N worker threads, blocks are filled by the calling thread, queued,
 * compressed by the workers, and written out in order by the calling thread
 * (the only one that ever calls the output function).  All deflate streams
 * are allocated before the workers start; a worker allocates only to grow a
 * block's output buffer, under the allocator lock the job installs.
 *
 * Two engines compress a block: zlib, and (built with it) ISA-L's igzip.
 * Both see the same blocks and dictionaries and end blocks the same way;
 * ISA-L always gets the full 32 KiB dictionary, which it hashes cheaply.
 * ISA-L allocates nothing itself: its stream and level buffer come from the
 * job's allocator here.
 */
#include "publish.h"

#include <pthread.h>
#include <string.h>

#include <zlib.h>
#ifdef OHP_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#define BLOCK OHP_DF_BLOCK
#define DICT OHP_DF_DICT
#define OUT_INITIAL ((size_t)32 * 1024)
#define OUT_INLINE ((size_t)64 * 1024)

enum slot_state { S_FREE, S_FILLING, S_QUEUED, S_BUSY, S_DONE };

typedef struct df_slot {
    unsigned char *in;
    size_t in_len;
    unsigned char *dict;
    size_t dict_len;
    unsigned char *out;
    size_t out_len, out_cap;
    uint32_t crc;
    int last;
    int err;
    enum slot_state st;
} df_slot;

struct ohp_deflater;

/* One engine's stream: a zlib stream, or an ISA-L stream and its level buffer. */
typedef struct df_stream {
    z_stream z;
    bool z_init;
#ifdef OHP_HAVE_ISAL
    struct isal_zstream *is;
    unsigned char *level_buf;
#endif
} df_stream;

typedef struct df_worker {
    struct ohp_deflater *d;
    df_stream strm;
    pthread_t tid;
    bool started;
} df_worker;

struct ohp_deflater {
    ohp_alloc alloc;
    int engine; /* OHP_ENGINE_ZLIB or OHP_ENGINE_ISAL */
    int level;
    unsigned nworkers; /* 0: inline */
    size_t dict_size;  /* OHP_DF_DICT_SIZE_ENGINE(engine, level) */
    df_worker *workers;
    df_stream strm; /* inline stream */
    df_slot *slots;
    unsigned nslots;
    uint64_t seq_fill;  /* block being filled */
    uint64_t seq_take;  /* next block a worker takes */
    uint64_t seq_write; /* next block to write out */
    bool mt_init;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    bool stop;
    int err;
    ohp_df_output_fn output;
    void *ctx;
    uint32_t crc;
    uint64_t in_total, out_total;
};

#ifdef OHP_HAVE_ISAL
static uint32_t isal_level_buf_size(int isal_level)
{
    switch (isal_level) {
    case 1:
        return ISAL_DEF_LVL1_DEFAULT;
    case 2:
        return ISAL_DEF_LVL2_DEFAULT;
    default:
        return ISAL_DEF_LVL3_DEFAULT;
    }
}
#endif

static int stream_init(ohp_deflater *d, df_stream *st)
{
    memset(st, 0, sizeof *st);
#ifdef OHP_HAVE_ISAL
    if (d->engine == OHP_ENGINE_ISAL) {
        /*
         * Zeroed: ISA-L's assembly loads from parts of its level buffer it
         * has not written yet.  Zeroed once, nothing can depend on what the
         * heap held, and memory checkers stay quiet.
         */
        st->is = ohp_calloc(&d->alloc, 1, sizeof *st->is);
        st->level_buf =
            ohp_calloc(&d->alloc, 1, isal_level_buf_size(OHP_DF_ISAL_LEVEL(d->level)));
        if (st->is == NULL || st->level_buf == NULL)
            return OHP_ENOMEM;
        isal_deflate_init(st->is);
        return OHP_OK;
    }
#endif
    z_stream *s = &st->z;
    s->zalloc = ohp_zalloc;
    s->zfree = ohp_zfree;
    s->opaque = &d->alloc;
    int zrc = deflateInit2(s, d->level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    st->z_init = zrc == Z_OK;
    if (zrc == Z_OK)
        return OHP_OK;
    return zrc == Z_MEM_ERROR ? OHP_ENOMEM : OHP_EZIP;
}

static void stream_end(ohp_deflater *d, df_stream *st)
{
    if (st->z_init)
        deflateEnd(&st->z);
    st->z_init = false;
#ifdef OHP_HAVE_ISAL
    ohp_free(&d->alloc, st->is);
    ohp_free(&d->alloc, st->level_buf);
    st->is = NULL;
    st->level_buf = NULL;
#else
    (void)d;
#endif
}

/*
 * Make room in the slot's output buffer: inline, hand what it holds to the
 * output function; on a worker, double it.
 */
static int out_room(ohp_deflater *d, df_slot *sl, bool inline_out)
{
    if (sl->out_len < sl->out_cap)
        return OHP_OK;
    if (inline_out) {
        if (d->output(d->ctx, sl->out, sl->out_len))
            return OHP_ESINK;
        d->out_total += sl->out_len;
        sl->out_len = 0;
        return OHP_OK;
    }
    size_t cap = sl->out_cap * 2;
    unsigned char *p = ohp_realloc(&d->alloc, sl->out, cap);
    if (p == NULL)
        return OHP_ENOMEM;
    sl->out = p;
    sl->out_cap = cap;
    return OHP_OK;
}

#ifdef OHP_HAVE_ISAL
/* One block through ISA-L: the same dictionary and flushes as zlib's path. */
static int isal_block(ohp_deflater *d, df_stream *st, df_slot *sl, bool inline_out)
{
    struct isal_zstream *s = st->is;
    int lvl = OHP_DF_ISAL_LEVEL(d->level);
    isal_deflate_reset(s);
    s->level = (uint32_t)lvl;
    s->level_buf = st->level_buf;
    s->level_buf_size = isal_level_buf_size(lvl);
    s->gzip_flag = IGZIP_DEFLATE;
    s->flush = SYNC_FLUSH;
    s->end_of_stream = sl->last ? 1 : 0;
    if (sl->dict_len && isal_deflate_set_dict(s, sl->dict, (uint32_t)sl->dict_len) != COMP_OK)
        return OHP_EZIP;
    s->next_in = sl->in;
    s->avail_in = (uint32_t)sl->in_len;
    for (;;) {
        int rc = out_room(d, sl, inline_out);
        if (rc)
            return rc;
        s->next_out = sl->out + sl->out_len;
        s->avail_out = (uint32_t)(sl->out_cap - sl->out_len);
        uint32_t in_before = s->avail_in, out_before = s->avail_out;
        enum isal_zstate_state st_before = s->internal_state.state;
        if (isal_deflate(s) != COMP_OK)
            return OHP_EZIP;
        sl->out_len = sl->out_cap - s->avail_out;
        /*
         * Done when the input is in and the flush (or the stream's end) is
         * out: a few bytes may still wait in ISA-L's own small buffer, and
         * its state says so.
         */
        enum isal_zstate_state now = s->internal_state.state;
        if (s->avail_in == 0 && (sl->last ? now == ZSTATE_END : now == ZSTATE_NEW_HDR))
            break;
        if (s->avail_in == in_before && s->avail_out == out_before && now == st_before)
            return OHP_EZIP; /* no progress: never loop forever */
    }
    return OHP_OK;
}
#endif

/* One block through zlib. */
static int zlib_block(ohp_deflater *d, z_stream *s, df_slot *sl, bool inline_out)
{
    if (deflateReset(s) != Z_OK)
        return OHP_EZIP;
    if (sl->dict_len && deflateSetDictionary(s, sl->dict, (uInt)sl->dict_len) != Z_OK)
        return OHP_EZIP;
    s->next_in = sl->in;
    s->avail_in = (uInt)sl->in_len;
    int flush = sl->last ? Z_FINISH : Z_SYNC_FLUSH;
    for (;;) {
        int rc = out_room(d, sl, inline_out);
        if (rc)
            return rc;
        s->next_out = sl->out + sl->out_len;
        s->avail_out = (uInt)(sl->out_cap - sl->out_len);
        int zrc = deflate(s, flush);
        sl->out_len = sl->out_cap - s->avail_out;
        if (zrc == Z_STREAM_ERROR)
            return OHP_EZIP;
        if (s->avail_out != 0 && s->avail_in == 0 && (flush != Z_FINISH || zrc == Z_STREAM_END))
            break;
    }
    return OHP_OK;
}

/*
 * Compress one block with stream st.  Inline (d->nworkers == 0) the output
 * goes straight to the output function in OUT_INLINE pieces; on a worker it
 * accumulates in the slot, growing its buffer.
 */
static int compress_block(ohp_deflater *d, df_stream *st, df_slot *sl, bool inline_out)
{
    sl->crc = ohp_crc32(0, sl->in, sl->in_len);
    sl->out_len = 0;
    int rc;
#ifdef OHP_HAVE_ISAL
    if (d->engine == OHP_ENGINE_ISAL)
        rc = isal_block(d, st, sl, inline_out);
    else
#endif
        rc = zlib_block(d, &st->z, sl, inline_out);
    if (rc)
        return rc;
    if (inline_out && sl->out_len) {
        if (d->output(d->ctx, sl->out, sl->out_len))
            return OHP_ESINK;
        d->out_total += sl->out_len;
        sl->out_len = 0;
    }
    return OHP_OK;
}

static void *worker_main(void *arg)
{
    df_worker *w = arg;
    ohp_deflater *d = w->d;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        df_slot *sl = &d->slots[d->seq_take % d->nslots];
        while (!d->stop && !(sl->st == S_QUEUED)) {
            pthread_cond_wait(&d->work, &d->mu);
            sl = &d->slots[d->seq_take % d->nslots];
        }
        if (d->stop)
            break;
        sl->st = S_BUSY;
        d->seq_take++;
        pthread_mutex_unlock(&d->mu);
        int rc = compress_block(d, &w->strm, sl, false);
        pthread_mutex_lock(&d->mu);
        sl->err = rc;
        sl->st = S_DONE;
        pthread_cond_broadcast(&d->done);
        /* Another block may already be waiting. */
        pthread_cond_signal(&d->work);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static int slot_alloc(ohp_deflater *d, df_slot *sl, size_t out_cap)
{
    sl->in = ohp_malloc(&d->alloc, BLOCK);
    sl->dict = ohp_malloc(&d->alloc, DICT);
    sl->out = ohp_malloc(&d->alloc, out_cap);
    sl->out_cap = out_cap;
    return sl->in && sl->dict && sl->out ? OHP_OK : OHP_ENOMEM;
}

static void stop_workers(ohp_deflater *d)
{
    if (!d->mt_init)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_broadcast(&d->work);
    pthread_mutex_unlock(&d->mu);
    for (unsigned i = 0; i < d->nworkers; i++) {
        if (d->workers[i].started) {
            pthread_join(d->workers[i].tid, NULL);
            d->workers[i].started = false;
        }
    }
}

void ohp_deflater_free(ohp_deflater *d)
{
    if (d == NULL)
        return;
    stop_workers(d);
    ohp_alloc a = d->alloc;
    if (d->workers) {
        for (unsigned i = 0; i < d->nworkers; i++)
            stream_end(d, &d->workers[i].strm);
        ohp_free(&a, d->workers);
    }
    stream_end(d, &d->strm);
    if (d->slots) {
        for (unsigned i = 0; i < d->nslots; i++) {
            ohp_free(&a, d->slots[i].in);
            ohp_free(&a, d->slots[i].dict);
            ohp_free(&a, d->slots[i].out);
        }
        ohp_free(&a, d->slots);
    }
    if (d->mt_init) {
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->work);
        pthread_cond_destroy(&d->done);
    }
    ohp_free(&a, d);
}

int ohp_deflater_new(ohp_deflater **out, const ohp_alloc *a, int engine, int level,
                     unsigned threads, ohp_df_output_fn output, void *ctx)
{
    *out = NULL;
#ifndef OHP_HAVE_ISAL
    if (engine != OHP_ENGINE_ZLIB)
        return OHP_EUNSUPPORTED;
#endif
    ohp_deflater *d = ohp_calloc(a, 1, sizeof *d);
    if (d == NULL)
        return OHP_ENOMEM;
    d->alloc = *a;
    d->engine = engine == OHP_ENGINE_ISAL ? OHP_ENGINE_ISAL : OHP_ENGINE_ZLIB;
    d->level = level;
    d->dict_size = OHP_DF_DICT_SIZE_ENGINE(d->engine, level);
    d->output = output;
    d->ctx = ctx;
    d->nworkers = threads > 1 ? threads : 0;
    d->nslots = d->nworkers ? d->nworkers + 1 : 1;
    int rc = OHP_OK;
    d->slots = ohp_calloc(a, d->nslots, sizeof *d->slots);
    if (d->slots == NULL)
        rc = OHP_ENOMEM;
    for (unsigned i = 0; rc == OHP_OK && i < d->nslots; i++)
        rc = slot_alloc(d, &d->slots[i], d->nworkers ? OUT_INITIAL : OUT_INLINE);
    if (rc == OHP_OK)
        d->slots[0].st = S_FILLING; /* before any worker can look at it */
    if (rc == OHP_OK && d->nworkers == 0)
        rc = stream_init(d, &d->strm);
    if (rc == OHP_OK && d->nworkers) {
        d->workers = ohp_calloc(a, d->nworkers, sizeof *d->workers);
        if (d->workers == NULL)
            rc = OHP_ENOMEM;
        for (unsigned i = 0; rc == OHP_OK && i < d->nworkers; i++) {
            d->workers[i].d = d;
            rc = stream_init(d, &d->workers[i].strm);
        }
        if (rc == OHP_OK) {
            if (pthread_mutex_init(&d->mu, NULL) != 0)
                rc = OHP_ENOMEM;
            else if (pthread_cond_init(&d->work, NULL) != 0) {
                pthread_mutex_destroy(&d->mu);
                rc = OHP_ENOMEM;
            } else if (pthread_cond_init(&d->done, NULL) != 0) {
                pthread_cond_destroy(&d->work);
                pthread_mutex_destroy(&d->mu);
                rc = OHP_ENOMEM;
            } else {
                d->mt_init = true;
            }
        }
        for (unsigned i = 0; rc == OHP_OK && i < d->nworkers; i++) {
            if (pthread_create(&d->workers[i].tid, NULL, worker_main, &d->workers[i]) != 0)
                rc = OHP_ENOMEM;
            else
                d->workers[i].started = true;
        }
    }
    if (rc) {
        ohp_deflater_free(d);
        return rc;
    }
    *out = d;
    return OHP_OK;
}

/* Write out every finished block in order; wait for one if `wait`. */
static int drain(ohp_deflater *d, bool wait_one)
{
    for (;;) {
        if (d->seq_write > d->seq_fill)
            return OHP_OK;
        df_slot *sl = &d->slots[d->seq_write % d->nslots];
        pthread_mutex_lock(&d->mu);
        while (sl->st != S_DONE && wait_one)
            pthread_cond_wait(&d->done, &d->mu);
        bool ready = sl->st == S_DONE;
        pthread_mutex_unlock(&d->mu);
        if (!ready)
            return OHP_OK;
        if (sl->err)
            return d->err = sl->err;
        if (sl->out_len && d->output(d->ctx, sl->out, sl->out_len))
            return d->err = OHP_ESINK;
        d->out_total += sl->out_len;
        d->crc = (uint32_t)crc32_combine(d->crc, sl->crc, (z_off_t)sl->in_len);
        pthread_mutex_lock(&d->mu);
        sl->st = S_FREE;
        pthread_mutex_unlock(&d->mu);
        d->seq_write++;
        wait_one = false;
    }
}

/* Hand the block being filled over for compression. */
static int dispatch(ohp_deflater *d, bool last)
{
    df_slot *sl = &d->slots[d->seq_fill % d->nslots];
    sl->last = last;
    if (d->nworkers == 0) {
        int rc = compress_block(d, &d->strm, sl, true);
        if (rc)
            return d->err = rc;
        d->crc = (uint32_t)crc32_combine(d->crc, sl->crc, (z_off_t)sl->in_len);
        return OHP_OK;
    }
    pthread_mutex_lock(&d->mu);
    sl->st = S_QUEUED;
    pthread_cond_signal(&d->work);
    pthread_mutex_unlock(&d->mu);
    return OHP_OK;
}

/* Start filling the next block, primed with the tail of the previous one. */
static int next_block(ohp_deflater *d)
{
    df_slot *prev = &d->slots[d->seq_fill % d->nslots];
    df_slot *sl = &d->slots[(d->seq_fill + 1) % d->nslots];
    if (d->nworkers) {
        /* The slot must have been compressed and written out. */
        for (;;) {
            pthread_mutex_lock(&d->mu);
            bool free_ = sl->st == S_FREE;
            pthread_mutex_unlock(&d->mu);
            if (free_)
                break;
            int rc = drain(d, true);
            if (rc)
                return rc;
        }
    }
    size_t n = prev->in_len < d->dict_size ? prev->in_len : d->dict_size;
    memcpy(sl->dict, prev->in + prev->in_len - n, n);
    sl->dict_len = n;
    sl->in_len = 0;
    if (d->nworkers) {
        pthread_mutex_lock(&d->mu);
        sl->st = S_FILLING;
        pthread_mutex_unlock(&d->mu);
    } else {
        sl->st = S_FILLING;
    }
    d->seq_fill++;
    return OHP_OK;
}

int ohp_deflater_write(ohp_deflater *d, const void *buf, size_t len)
{
    if (d->err)
        return d->err;
    const unsigned char *p = buf;
    while (len > 0) {
        df_slot *sl = &d->slots[d->seq_fill % d->nslots];
        size_t n = BLOCK - sl->in_len;
        if (n > len)
            n = len;
        memcpy(sl->in + sl->in_len, p, n);
        sl->in_len += n;
        d->in_total += n;
        p += n;
        len -= n;
        if (sl->in_len == BLOCK) {
            int rc = dispatch(d, false);
            if (rc == OHP_OK)
                rc = next_block(d);
            if (rc)
                return d->err = rc;
        }
        if (d->nworkers) {
            int rc = drain(d, false);
            if (rc)
                return rc;
        }
    }
    return OHP_OK;
}

int ohp_deflater_finish(ohp_deflater *d)
{
    if (d->err)
        return d->err;
    int rc = dispatch(d, true);
    if (rc)
        return rc;
    if (d->nworkers) {
        while (d->seq_write <= d->seq_fill) {
            rc = drain(d, true);
            if (rc)
                return rc;
        }
        stop_workers(d);
    }
    return OHP_OK;
}

uint32_t ohp_deflater_crc(const ohp_deflater *d)
{
    return d->crc;
}

uint64_t ohp_deflater_in(const ohp_deflater *d)
{
    return d->in_total;
}

uint64_t ohp_deflater_out(const ohp_deflater *d)
{
    return d->out_total;
}
