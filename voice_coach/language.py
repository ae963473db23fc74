"""Languages: which the program speaks, and what it knows of each.

Their names, the ordinal forms a routine's ``{nth:FORM}`` may take, the language of the
locale, the voice that speaks each, and the planner's own words (the closing line, the
plan's labels). A routine's lines are written by people (in its file and its
translations); numbers and ordinals in words are ``spoken``'s. Pure: the locale comes in
as a mapping of environment variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

ENGLISH: Final = "en"
LANGUAGES: Final[tuple[str, ...]] = ("de", "en", "es", "fr")
"""Languages the program can speak: a routine's translation must be one of these."""
NAMES: Final[Mapping[str, str]] = {"de": "German", "en": "English", "es": "Spanish",
                                   "fr": "French"}
ORDINAL_FORMS: Final[Mapping[str, tuple[str, ...]]] = {
    "de": ("e", "en", "er", "es", "em"),
    "en": (),
    "es": ("m", "f"),
    "fr": ("m", "f"),
}
"""The forms ``{nth:FORM}`` takes per language: German adjective endings (``eine
{nth:e} Stelle``, ``einen {nth:en} Punkt``), French and Spanish gender (``un {nth:m}
punto``, ``una {nth:f} zona``). ``{nth}`` alone is the first form (English has one)."""
_LOCALE_VARIABLES: Final = ("LC_ALL", "LC_MESSAGES", "LANG")


class UnknownLanguageError(ValueError):
    """A language code the program cannot speak."""


def check_language(code: str) -> str:
    """``code`` normalised (``DE`` -> ``de``), or UnknownLanguageError listing the known."""
    wanted = code.strip().lower()
    if wanted not in LANGUAGES:
        raise UnknownLanguageError(
            f"unknown language {code!r}; languages: {', '.join(LANGUAGES)}")
    return wanted


def locale_language(env: Mapping[str, str]) -> tuple[str, str] | None:
    """The language of the locale (``LC_ALL`` > ``LC_MESSAGES`` > ``LANG``, as POSIX
    orders them) and the variable that set it, when it is one we speak."""
    for name in _LOCALE_VARIABLES:
        value = env.get(name, "")
        if value:
            code = value.split(".")[0].split("_")[0].split("@")[0].lower()
            return (code, f"{name}={value}") if code in LANGUAGES else None
    return None


def default_voice(language: str) -> str | None:
    """The voice either engine speaks ``language`` with when no ``--voice`` is given.

    None for English: espeak-ng's own default voice (and the clips already cached for it),
    Piper's packaged voice; another language is the voice's language (Piper finds one in
    the voices folder, or says none is there).
    """
    return None if language == ENGLISH else language


# --- What the planner says and shows -------------------------------------------------


@dataclass(frozen=True)
class PlanWords:
    """The planner's own words in one language: spoken (``session_complete``) and shown
    (step labels, and what ``plan`` prints around them)."""

    session_complete: str
    starting: str
    breath: str
    breaths: str
    phases: tuple[str, str, str, str]
    step: str
    speak: str
    chime: str
    silence: str
    end: str
    cues: Mapping[str, str]
    repetition: str
    estimated: str
    """``plan``'s heading after the length: how the speech was timed, at ``{rate}``."""
    rendered: str
    caution: str
    """The title of the caution a routine opens with."""
    tail: str
    """The label of the bed that plays on after the end (``--tail``), before its length."""


PLAN_WORDS: Final[Mapping[str, PlanWords]] = {
    "en": PlanWords("Session complete.", "Starting", "breath", "breaths",
                    ("in", "hold", "out", "hold"), "step", "speak", "chime", "silence", "end",
                    {"start": "start", "inhale": "inhale", "exhale": "exhale", "hold": "hold",
                     "spot": "spot", "end": "end"}, "repetition",
                    "with speech estimated at {rate} words per minute",
                    "with speech rendered at {rate} words per minute", "Caution", "Tail"),
    "de": PlanWords("Die Übung ist zu Ende.", "Beginn", "Atemzug", "Atemzüge",
                    ("ein", "halten", "aus", "halten"), "Schritt", "Sprache", "Ton", "Stille",
                    "Ende",
                    {"start": "Beginn", "inhale": "einatmen", "exhale": "ausatmen",
                     "hold": "halten", "spot": "Stelle", "end": "Ende"}, "Wiederholung",
                    "(Sprechdauer geschätzt bei {rate} Wörtern pro Minute)",
                    "(Sprechdauer gemessen bei {rate} Wörtern pro Minute)", "Vorsicht",
                    "Ausklang"),
    "fr": PlanWords("La séance est terminée.", "Début", "respiration", "respirations",
                    ("inspirer", "bloquer", "expirer", "bloquer"), "étape", "voix", "son",
                    "silence", "fin",
                    {"start": "début", "inhale": "inspirer", "exhale": "expirer",
                     "hold": "bloquer", "spot": "point", "end": "fin"}, "répétition",
                    "(durée de parole estimée à {rate} mots par minute)",
                    "(durée de parole mesurée à {rate} mots par minute)", "Précautions",
                    "Prolongation"),
    "es": PlanWords("La sesión ha terminado.", "Inicio", "respiración", "respiraciones",
                    ("inhalar", "retener", "exhalar", "retener"), "paso", "voz", "sonido",
                    "silencio", "fin",
                    {"start": "inicio", "inhale": "inhalar", "exhale": "exhalar",
                     "hold": "retener", "spot": "punto", "end": "fin"}, "repetición",
                    "(voz estimada a {rate} palabras por minuto)",
                    "(voz medida a {rate} palabras por minuto)", "Precaución",
                    "Prolongación"),
}
