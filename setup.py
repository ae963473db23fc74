"""The C extension: everything else is declared in pyproject.toml."""

import sys

from setuptools import Extension, setup

# The tap follows simpleaudio's ALSA calls; other systems play without it (docs/streaming.md).
TAP = Extension("voice_coach._devicetap", ["voice_coach/_devicetap.c"], libraries=["dl"])

setup(ext_modules=[TAP] if sys.platform.startswith("linux") else [])
