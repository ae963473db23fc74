/*
 * How far the sound device has taken a play: the frames ALSA accepted from the player's
 * buffer, and the delay it last reported.
 *
 * simpleaudio plays one buffer from a thread of its own and tells nothing of its progress.
 * That thread hands the buffer to ALSA with blocking snd_pcm_writei calls, so what ALSA has
 * accepted advances at the device's own rate: a slow clock, a stall or a late start holds
 * it back. This module defines snd_pcm_open, snd_pcm_writei, snd_pcm_drain and
 * snd_pcm_close; loaded with RTLD_GLOBAL before simpleaudio, it comes first in the symbol
 * search, so simpleaudio's calls land here, are counted and go on to libasound. Nothing here
 * runs Python code in the playback thread or takes the GIL there.
 *
 * One play is counted at a time: the PCM opened last. Its writer thread stores, after each
 * write, the frames accepted so far, snd_pcm_delay's answer and the monotonic time, under a
 * sequence counter (a seqlock) that the Python side reads without blocking the writer.
 *
 * Stopping at once. simpleaudio's stop ends its writes and drains: the device plays all it
 * took (ALSA's buffer and the sound server's) before the play ends. After drop() the play's
 * writes return at the next chunk (WRITE_CHUNK_FRAMES, so a write blocks for at most about
 * one ALSA period) and its drain becomes snd_pcm_drop, which discards what the device took
 * but had not played; snd_pcm_delay's answer just before the drop says how much that was
 * (dropped), so what was heard is taken - dropped. All of it runs in the playback thread,
 * the only thread that touches the PCM.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dlvsym */
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <stdatomic.h>
#include <time.h>

typedef struct snd_pcm snd_pcm_t;
typedef long snd_pcm_sframes_t;
typedef unsigned long snd_pcm_uframes_t;
typedef int snd_pcm_stream_t;

typedef int (*open_fn)(snd_pcm_t **, const char *, snd_pcm_stream_t, int);
typedef snd_pcm_sframes_t (*writei_fn)(snd_pcm_t *, const void *, snd_pcm_uframes_t);
typedef int (*close_fn)(snd_pcm_t *);
typedef int (*delay_fn)(snd_pcm_t *, snd_pcm_sframes_t *);
typedef int (*drain_fn)(snd_pcm_t *);
typedef long (*bytes_fn)(snd_pcm_t *, snd_pcm_sframes_t);
typedef int (*state_fn)(snd_pcm_t *);
#define SND_PCM_STATE_PREPARED 2

/* The most a write hands ALSA at once: under one ALSA period at 22,050 Hz (simpleaudio asks
 * for a 100 ms buffer, which ALSA splits into periods of about 25 ms). */
#define WRITE_CHUNK_FRAMES 512UL

static open_fn real_open;
static writei_fn real_writei;
static close_fn real_close;
static delay_fn real_delay;
static drain_fn real_drain;
static drain_fn real_drop;
static bytes_fn real_frames_to_bytes;
static state_fn real_state;
static atomic_int resolved;

static snd_pcm_t *_Atomic current;    /* the PCM opened last, NULL once closed */
static atomic_ulong opened;           /* PCMs opened through the tap */
static atomic_uint sequence;          /* odd while the writer updates the three below */
static atomic_ullong taken_frames;
static atomic_llong delay_frames;
static atomic_llong stamp_ns;
static atomic_llong dropped_frames = -1; /* what a drop discarded of the play, or -1 */
static atomic_int dropping;           /* drop() was asked for the current play */

static void resolve(void) {
    if (atomic_load(&resolved))
        return;
    void *alsa = dlopen("libasound.so.2", RTLD_NOW | RTLD_LOCAL);
    if (alsa == NULL)
        return;
    real_open = (open_fn)dlvsym(alsa, "snd_pcm_open", "ALSA_0.9");
    real_writei = (writei_fn)dlvsym(alsa, "snd_pcm_writei", "ALSA_0.9");
    real_close = (close_fn)dlvsym(alsa, "snd_pcm_close", "ALSA_0.9");
    real_delay = (delay_fn)dlvsym(alsa, "snd_pcm_delay", "ALSA_0.9");
    real_drain = (drain_fn)dlvsym(alsa, "snd_pcm_drain", "ALSA_0.9");
    real_drop = (drain_fn)dlvsym(alsa, "snd_pcm_drop", "ALSA_0.9");
    real_frames_to_bytes = (bytes_fn)dlvsym(alsa, "snd_pcm_frames_to_bytes", "ALSA_0.9");
    real_state = (state_fn)dlvsym(alsa, "snd_pcm_state", "ALSA_0.9");
    if (real_open == NULL)
        real_open = (open_fn)dlsym(alsa, "snd_pcm_open");
    if (real_writei == NULL)
        real_writei = (writei_fn)dlsym(alsa, "snd_pcm_writei");
    if (real_close == NULL)
        real_close = (close_fn)dlsym(alsa, "snd_pcm_close");
    if (real_delay == NULL)
        real_delay = (delay_fn)dlsym(alsa, "snd_pcm_delay");
    if (real_drain == NULL)
        real_drain = (drain_fn)dlsym(alsa, "snd_pcm_drain");
    if (real_drop == NULL)
        real_drop = (drain_fn)dlsym(alsa, "snd_pcm_drop");
    if (real_frames_to_bytes == NULL)
        real_frames_to_bytes = (bytes_fn)dlsym(alsa, "snd_pcm_frames_to_bytes");
    if (real_state == NULL)
        real_state = (state_fn)dlsym(alsa, "snd_pcm_state");
    atomic_store(&resolved, 1);
}

static long long now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

static void record(unsigned long long taken, long long delay, long long dropped) {
    atomic_fetch_add(&sequence, 1);
    atomic_store(&taken_frames, taken);
    atomic_store(&delay_frames, delay);
    atomic_store(&dropped_frames, dropped);
    atomic_store(&stamp_ns, now_ns());
    atomic_fetch_add(&sequence, 1);
}

/* Of the ``taken`` frames, how many are not yet heard. Until the stream has started (it
 * starts once ALSA's buffer is full) none is, whatever snd_pcm_delay says: through the
 * pulse plugin it says about nothing is queued before the server started playing. */
static snd_pcm_sframes_t delay_of(snd_pcm_t *pcm, unsigned long long taken) {
    if (real_state != NULL && real_state(pcm) == SND_PCM_STATE_PREPARED)
        return (snd_pcm_sframes_t)taken;
    snd_pcm_sframes_t delay = 0;
    if (real_delay == NULL || real_delay(pcm, &delay) < 0 || delay < 0)
        delay = 0;
    return delay;
}

int snd_pcm_open(snd_pcm_t **pcm, const char *name, snd_pcm_stream_t stream, int mode) {
    resolve();
    if (real_open == NULL)
        return -38; /* -ENOSYS */
    int result = real_open(pcm, name, stream, mode);
    if (result == 0 && stream == 0 /* SND_PCM_STREAM_PLAYBACK */) {
        atomic_store(&dropping, 0);
        record(0, 0, -1);
        atomic_store(&current, *pcm);
        atomic_fetch_add(&opened, 1);
    }
    return result;
}

/* The current play's writes go to ALSA a chunk at a time, each counted, and end early once
 * a drop was asked for (a short count, which simpleaudio takes as such); others pass. Until
 * the stream has started, a write goes whole, as simpleaudio asked: some PCMs (null) start
 * only on a single write as long as their start threshold. */
snd_pcm_sframes_t snd_pcm_writei(snd_pcm_t *pcm, const void *buffer, snd_pcm_uframes_t size) {
    resolve();
    if (real_writei == NULL)
        return -38;
    long frame_bytes = real_frames_to_bytes == NULL ? -1 : real_frames_to_bytes(pcm, 1);
    if (pcm != atomic_load(&current) || frame_bytes <= 0)
        return real_writei(pcm, buffer, size);
    snd_pcm_uframes_t written = 0;
    while (written < size && !atomic_load(&dropping)) {
        snd_pcm_uframes_t chunk = size - written;
        int started = real_state == NULL || real_state(pcm) != SND_PCM_STATE_PREPARED;
        if (chunk > WRITE_CHUNK_FRAMES && started)
            chunk = WRITE_CHUNK_FRAMES;
        snd_pcm_sframes_t result =
            real_writei(pcm, (const char *)buffer + written * (unsigned long)frame_bytes, chunk);
        if (result < 0) {
            if (written == 0)
                return result;
            break;
        }
        written += (snd_pcm_uframes_t)result;
        unsigned long long taken = atomic_load(&taken_frames) + (unsigned long long)result;
        record(taken, delay_of(pcm, taken), -1);
        if ((snd_pcm_uframes_t)result < chunk)
            break;
    }
    return (snd_pcm_sframes_t)written;
}

/* simpleaudio drains every play as it ends; the current one is dropped instead once asked. */
int snd_pcm_drain(snd_pcm_t *pcm) {
    resolve();
    if (pcm == atomic_load(&current) && atomic_load(&dropping) && real_drop != NULL) {
        unsigned long long taken = atomic_load(&taken_frames);
        snd_pcm_sframes_t delay = delay_of(pcm, taken);
        int result = real_drop(pcm);
        record(taken, 0, result < 0 ? 0 : delay);
        return result;
    }
    return real_drain == NULL ? -38 : real_drain(pcm);
}

int snd_pcm_close(snd_pcm_t *pcm) {
    resolve();
    snd_pcm_t *expected = pcm;
    atomic_compare_exchange_strong(&current, &expected, NULL);
    return real_close == NULL ? -38 : real_close(pcm);
}

static PyObject *progress(PyObject *self, PyObject *unused) {
    unsigned long long taken;
    long long delay, dropped, stamp;
    unsigned before, after;
    do {
        before = atomic_load(&sequence);
        taken = atomic_load(&taken_frames);
        delay = atomic_load(&delay_frames);
        dropped = atomic_load(&dropped_frames);
        stamp = atomic_load(&stamp_ns);
        after = atomic_load(&sequence);
    } while (before != after || (before & 1));
    return Py_BuildValue("(KLLd)", taken, delay, dropped, (double)stamp / 1e9);
}

static PyObject *drop(PyObject *self, PyObject *unused) {
    atomic_store(&dropping, 1);
    Py_RETURN_NONE;
}

static PyObject *opens(PyObject *self, PyObject *unused) {
    return PyLong_FromUnsignedLong(atomic_load(&opened));
}

static PyMethodDef methods[] = {
    {"progress", progress, METH_NOARGS,
     "progress() -> (taken_frames, delay_frames, dropped_frames, at_s): the frames ALSA "
     "accepted from the play opened last, the delay it reported after the last write, what a "
     "drop discarded of them (-1: no drop), and when (time.monotonic)."},
    {"drop", drop, METH_NOARGS,
     "drop(): once the play opened last has been told to stop, end its writes at the next "
     "chunk and discard what the device has not played instead of draining it."},
    {"opens", opens, METH_NOARGS,
     "opens() -> int: playback PCMs opened through the tap (0: the tap is not in the path)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_devicetap",
    "How far the sound device has taken a play (see voice_coach/_devicetap.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__devicetap(void) {
    return PyModule_Create(&module);
}
