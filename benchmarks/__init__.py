"""Measure voice-coach against its floors and peers: eleven sections, one run, one table.

    .venv/bin/python -m benchmarks             # the full run (about 50 minutes)
    .venv/bin/python -m benchmarks --quick     # small runs, for the smoke test (~2.5 minutes)
    .venv/bin/python -m benchmarks --json      # the same data as JSON on stdout
    .venv/bin/python -m benchmarks --only 1,3  # some sections only
    .venv/bin/python -m benchmarks --table-from run.json  # the table of a --json run

One module per section:

1. ``synthesis``: ``voice-coach export`` of a generated narration-heavy routine (>= 3,000
   words), cold and warm cache, next to one ``espeak-ng -w`` call on the same text.
2. ``default_session``: ``voice-coach export psoas-release``, cold and warm: wall time,
   real-time factor, the phases timed in-process the way ``cli.export`` runs them
   (``phases``), the heaviest imports (``-X importtime``), and the bare interpreter with the
   same imports.
3. ``first_sound``: ``voice-coach play`` through ALSA's file plugin, from process start to
   the first byte written to the device (the output file's size, polled from outside).
4. ``cue_timing``: ``voice-coach play --quiet`` through a private PulseAudio null sink,
   recorded; every cue found by cross-correlation with its waveform and compared with the
   plan (``timeline.json``), and the recording compared with the export sample for sample
   (silence a starved server put in, and whether anything else changed). Next to it, what
   a beginner writes (``naive_player``).
5. ``resources``: peak RSS of ``export`` and ``play`` for a 10- and a 60-minute session (the
   whole session played into a device 60 times faster than real time), and the CPU a
   session uses while it plays in real time.
6. ``streaming``: peak RSS of ``play`` at 5, 60 and 180 minutes (a fixed stretch of each,
   cold and warm, into a device taking samples in real time), CPU once rendering is done,
   and first sound cold and warm.
7. ``formats``: ``export --format`` wav, flac, mp3, opus and m4a: the lossy ones against
   their floor (the WAV export + the ffmpeg command line encoding the same session and
   narration with the same settings, measured round by round beside them), loudness
   (ffmpeg's ``ebur128``) and true peak of each, and the limiter's gain reduction.
8. ``neural``: the neural engine (Piper): a cold export against Piper alone on the same
   lines (``neural_floor``), a warm one against pyttsx3's, and a cold 60-minute export's
   memory, its own and with the Piper helper.
9. ``load``: ``voice-coach play`` of psoas at 5 minutes through a private PulseAudio and a
   private PipeWire null sink, recorded, idle and with every core kept busy: the worst cue
   spacing error, the underruns heard (the export found in the recording block by block),
   and the least written sound ahead of the device (``load_child``); and how far the
   device tap's position is from a paced device's own (``tap_child``).
10. ``media_keys``: ``voice-coach play`` on a private session bus, steered with playerctl:
    from play-pause to the device stopping, and the CPU the bus costs while a client reads
    ``Position`` 20 times a second.
11. ``ambient``: each ambient bed and a 10-minute bed file under a 60-minute session:
    ffmpeg's ``ebur128`` on the export (the loudness of the sum), the export's time and
    peak RSS, and ``play`` into section 5's paced device for its peak RSS and CPU per
    second of session; the full run also at 5 and 180 minutes under ``brown`` and the file.

The programs that run in child processes (``phases_child``, ``naive_player``,
``rss_launcher``, ``neural_floor``, ``load_child``, ``tap_child``) are modules here too, so
the linters see them. Every command runs with private XDG folders, so the user's cache,
settings and history are neither used nor touched. Progress goes to stderr; the exit code is
1 when a measurement could not be made (a goal missed is a result, not a failure).

This ``__init__`` imports nothing: ``python -m benchmarks.phases_child`` runs it before it
starts its clock, so what it costs would count as interpreter start.
"""
