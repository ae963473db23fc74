"""Languages: the words the program itself says and shows, in each language it speaks.

A routine's own lines are written by people (in its file and its translations); what the
program adds is here: numbers and ordinals for ``{pace}``, ``{inhale_s}`` and ``{nth}``,
the closing line, the plan's labels, and the voice that speaks each language. Pure: the
locale comes in as a mapping of environment variables.
"""

from __future__ import annotations

import math
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


# --- Numbers ------------------------------------------------------------------------


_EN_ONES: Final = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                   "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
                   "sixteen", "seventeen", "eighteen", "nineteen")
_EN_TENS: Final = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
                   "eighty", "ninety")
_DE_ONES: Final = ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht",
                   "neun", "zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn",
                   "sechzehn", "siebzehn", "achtzehn", "neunzehn")
_DE_TENS: Final = ("", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig",
                   "achtzig", "neunzig")
_FR_ONES: Final = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit",
                   "neuf", "dix", "onze", "douze", "treize", "quatorze", "quinze", "seize",
                   "dix-sept", "dix-huit", "dix-neuf")
_FR_TENS: Final = ("", "", "vingt", "trente", "quarante", "cinquante", "soixante")
_ES_ONES: Final = ("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho",
                   "nueve", "diez", "once", "doce", "trece", "catorce", "quince", "dieciséis",
                   "diecisiete", "dieciocho", "diecinueve", "veinte", "veintiuno", "veintidós",
                   "veintitrés", "veinticuatro", "veinticinco", "veintiséis", "veintisiete",
                   "veintiocho", "veintinueve")
_ES_TENS: Final = ("", "", "veinte", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta",
                   "ochenta", "noventa")


def number_words(number: int, language: str) -> str:
    """A whole number from 0 to 99 in words, as counted aloud; digits beyond."""
    if not 0 <= number < 100:
        return str(number)
    tens, ones = divmod(number, 10)
    if language == "de":
        if number < 20:
            return _DE_ONES[number]
        unit = "ein" if ones == 1 else _DE_ONES[ones]
        return f"{unit}und{_DE_TENS[tens]}" if ones else _DE_TENS[tens]
    if language == "fr":
        return _french_number(number)
    if language == "es":
        if number < 30:
            return _ES_ONES[number]
        return _ES_TENS[tens] + (f" y {_ES_ONES[ones]}" if ones else "")
    if number < 20:
        return _EN_ONES[number]
    return _EN_TENS[tens] + (f"-{_EN_ONES[ones]}" if ones else "")


def _french_number(number: int) -> str:
    if number < 20:
        return _FR_ONES[number]
    tens, ones = divmod(number, 10)
    if number < 70:
        head = _FR_TENS[tens]
        return head if ones == 0 else f"{head} et un" if ones == 1 else f"{head}-{_FR_ONES[ones]}"
    if number < 80:
        return "soixante et onze" if number == 71 else f"soixante-{_FR_ONES[number - 60]}"
    if number == 80:
        return "quatre-vingts"
    return f"quatre-vingt-{_FR_ONES[number - 80]}"


@dataclass(frozen=True)
class _Fractions:
    half: str
    quarter: str
    three_quarters: str
    joined: str
    """How a whole number and a quarter join: ``{whole} and {part}``."""
    point: str


_FRACTIONS: Final[Mapping[str, _Fractions]] = {
    "en": _Fractions("a half", "a quarter", "three quarters", "{whole} and {part}", "point"),
    "de": _Fractions("einhalb", "ein Viertel", "drei Viertel", "{whole} und {part}", "Komma"),
    "fr": _Fractions("demi", "un quart", "trois quarts", "{whole} et {part}", "virgule"),
    "es": _Fractions("medio", "un cuarto", "tres cuartos", "{whole} y {part}", "coma"),
}


def spoken_seconds(seconds: float, language: str = ENGLISH) -> str:
    """A number of seconds as it is said: ``five``, ``four and a half``, ``three point
    two``; ``viereinhalb``, ``quatre et demi``, ``cuatro y medio``.

    Whole numbers, halves and quarters are words; anything else is said to one decimal.
    """
    words = _FRACTIONS[language]
    whole = math.floor(seconds)
    part = {0.25: words.quarter, 0.5: words.half, 0.75: words.three_quarters}.get(
        seconds - whole)
    if part is not None:
        if language == "de" and whole > 0:  # eineinhalb, viereinviertel, zweidreiviertel
            return _de_unit(whole) + part.replace(" ", "").lower()
        if language == "de" and part == words.half:
            return "eine halbe"
        if whole == 0:
            return "un demi" if language == "fr" and part == words.half else part
        return words.joined.format(whole=_unit(whole, language), part=part)
    tenths = round(seconds * 10)
    whole, tenth = divmod(tenths, 10)
    if tenth == 0:
        return _unit(whole, language)
    return f"{_unit(whole, language)} {words.point} {number_words(tenth, language)}"


def _unit(number: int, language: str) -> str:
    """A count said before a noun or a fraction: German ``ein``, not ``eins``."""
    return _de_unit(number) if language == "de" else number_words(number, language)


def _de_unit(number: int) -> str:
    return "ein" if number == 1 else number_words(number, "de")


_PACE_PHRASES: Final[Mapping[str, tuple[str, str, str, str, str]]] = {
    "en": ("in for {}", "hold for {}", "out for {}", "hold for {}", ", "),
    "de": ("ein auf {}", "halten auf {}", "aus auf {}", "halten auf {}", ", "),
    "fr": ("inspirez sur {}", "bloquez sur {}", "expirez sur {}", "bloquez sur {}", ", "),
    "es": ("inhala en {}", "retén en {}", "exhala en {}", "retén en {}", ", "),
}


def spoken_pace(phases_s: tuple[float, float, float, float], language: str = ENGLISH) -> str:
    """``in for four, hold for seven, out for eight``: a hold of zero is not mentioned."""
    *phrases, joiner = _PACE_PHRASES[language]
    return joiner.join(phrase.format(_count(seconds, language))
                       for phrase, seconds in zip(phrases, phases_s, strict=True)
                       if seconds > 0)


def _count(seconds: float, language: str) -> str:
    """A count said on its own: German ``eins``, not the ``ein`` of ``eineinhalb``."""
    if language == "de" and seconds == 1:
        return "eins"
    return spoken_seconds(seconds, language)


# --- Ordinals ------------------------------------------------------------------------


_EN_ORDINALS: Final = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh",
                       "eighth", "ninth", "tenth", "eleventh", "twelfth", "thirteenth",
                       "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth",
                       "nineteenth", "twentieth")
_DE_ORDINAL_STEMS: Final = {1: "erst", 3: "dritt", 7: "siebt", 8: "acht"}
_ES_ORDINALS: Final = ("primer", "segund", "tercer", "cuart", "quint", "sext", "séptim",
                       "octav", "noven", "décim")
_ES_TENS_ORDINALS: Final = ("", "décim", "vigésim", "trigésim", "cuadragésim", "quincuagésim",
                            "sexagésim", "septuagésim", "octogésim", "nonagésim")


def ordinal(n: int, language: str = ENGLISH, form: str = "") -> str:
    """The ordinal word for ``n`` in ``form`` (see ``ORDINAL_FORMS``): ``second``,
    ``zweite``/``zweiten``, ``deuxième``/``première``, ``segundo``/``segunda``.

    Words up to 99 (English: 20, then ``21st``); beyond that, the number followed by the
    language's ordinal mark, which the voices read as an ordinal.
    """
    forms = ORDINAL_FORMS[language]
    chosen = form or (forms[0] if forms else "")
    if chosen and chosen not in forms:
        raise ValueError(f"{NAMES[language]} ordinals take no form {chosen!r}"
                         + (f"; forms: {', '.join(forms)}" if forms else ""))
    if language == "de":
        if not 1 <= n < 100:
            return f"{n}."
        stem = _DE_ORDINAL_STEMS.get(n % 100 if n < 20 else 0)
        if stem is None:
            stem = number_words(n, "de") + ("t" if n < 20 else "st")
        return stem + chosen
    if language == "fr":
        return _french_ordinal(n, chosen)
    if language == "es":
        return _spanish_ordinal(n, chosen)
    if 1 <= n <= len(_EN_ORDINALS):
        return _EN_ORDINALS[n - 1]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _french_ordinal(n: int, form: str) -> str:
    if n == 1:
        return "première" if form == "f" else "premier"
    if not 1 <= n < 100:
        return f"{n}e"
    cardinal = number_words(n, "fr")
    if cardinal.endswith("cinq"):
        cardinal += "u"
    elif cardinal.endswith("neuf"):
        cardinal = cardinal[:-1] + "v"
    elif cardinal.endswith("e") or cardinal.endswith("quatre-vingts"):
        cardinal = cardinal[:-1]
    return cardinal + "ième"


def _spanish_ordinal(n: int, form: str) -> str:
    """Spanish ordinals agree in gender; ``primer`` and ``tercer`` lose their ``o``
    before a masculine noun (``un tercer punto``)."""
    if not 1 <= n < 100:
        return f"{n}.º" if form == "m" else f"{n}.ª"
    ending = "a" if form == "f" else "o"
    tens, ones = divmod(n, 10)

    def unit(number: int) -> str:
        word = _ES_ORDINALS[number - 1]
        if word in ("primer", "tercer"):
            return word + ("a" if form == "f" else "")
        return word + ending

    if tens == 0:
        return unit(ones)
    head = _ES_TENS_ORDINALS[tens]
    if ones == 0:
        return head + ending
    if tens == 1:  # decimotercero ... decimonoveno are written as one word
        special = {1: "undécim", 2: "duodécim"}
        if ones in special:
            return special[ones] + ending
        return "decimo" + unit(ones)
    return f"{head}{ending} {unit(ones)}"


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


PLAN_WORDS: Final[Mapping[str, PlanWords]] = {
    "en": PlanWords("Session complete.", "Starting", "breath", "breaths",
                    ("in", "hold", "out", "hold"), "step", "speak", "chime", "silence", "end",
                    {"start": "start", "inhale": "inhale", "exhale": "exhale", "hold": "hold",
                     "spot": "spot", "end": "end"}, "repetition",
                    "with speech estimated at {rate} words per minute",
                    "with speech rendered at {rate} words per minute", "Caution"),
    "de": PlanWords("Die Übung ist zu Ende.", "Beginn", "Atemzug", "Atemzüge",
                    ("ein", "halten", "aus", "halten"), "Schritt", "Sprache", "Ton", "Stille",
                    "Ende",
                    {"start": "Beginn", "inhale": "einatmen", "exhale": "ausatmen",
                     "hold": "halten", "spot": "Stelle", "end": "Ende"}, "Wiederholung",
                    "(Sprechdauer geschätzt bei {rate} Wörtern pro Minute)",
                    "(Sprechdauer gemessen bei {rate} Wörtern pro Minute)", "Vorsicht"),
    "fr": PlanWords("La séance est terminée.", "Début", "respiration", "respirations",
                    ("inspirer", "bloquer", "expirer", "bloquer"), "étape", "voix", "son",
                    "silence", "fin",
                    {"start": "début", "inhale": "inspirer", "exhale": "expirer",
                     "hold": "bloquer", "spot": "point", "end": "fin"}, "répétition",
                    "(durée de parole estimée à {rate} mots par minute)",
                    "(durée de parole mesurée à {rate} mots par minute)", "Précautions"),
    "es": PlanWords("La sesión ha terminado.", "Inicio", "respiración", "respiraciones",
                    ("inhalar", "retener", "exhalar", "retener"), "paso", "voz", "sonido",
                    "silencio", "fin",
                    {"start": "inicio", "inhale": "inhalar", "exhale": "exhalar",
                     "hold": "retener", "spot": "punto", "end": "fin"}, "repetición",
                    "(voz estimada a {rate} palabras por minuto)",
                    "(voz medida a {rate} palabras por minuto)", "Precaución"),
}
