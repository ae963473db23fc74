"""Helpers the tests and the benchmarks share; part of the repository, not of the wheel.

Each helper exists once, here, so a test and a benchmark that look at sound the same way
cannot drift apart:

- ``soundserver``: real sound for child processes (ALSA's ``file`` plugin, a private
  PulseAudio with a null sink) and running Python in a child.
- ``processes``: ending a child, and timing a command's first sound.
- ``audio``: WAV files read and written with the standard library (independent of
  ``voice_coach.pcm``), cross-correlation, onsets, stretches of sound, exact matches.
- ``fakes``: a clock a test moves by hand.
- ``fixtures``: the pytest fixtures built on these (``pytest_plugins = ["support.fixtures"]``).

Only ``fixtures`` imports pytest, so a benchmark runs without it.
"""
