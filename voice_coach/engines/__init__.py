"""Speech engines, one module (or a few) per engine, each behind ``speech.Engine``.

``pyttsx3_engine`` (espeak-ng through pyttsx3) is the default; ``piper_engine`` (a neural
voice, the optional ``neural`` extra) is the other. ``docs/engines.md`` says what each
engine needs and the faults worked around. Nothing is imported here: the pyttsx3 helper
process imports ``pyttsx3_helper`` from this package and must stay light.
"""
