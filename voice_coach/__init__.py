"""voice-coach: a voice-guided body-work session player for the terminal."""

__version__ = "0.1.0"
