"""Spoken text: a routine's lines as the voice says them, in each language it speaks.

The planner hands each line here once, with the repetition's number and the pace in
force, and gets back the words to say: placeholders filled (``{n}``, ``{nth}`` and its
forms, ``{pace}``, ``{inhale_s}``...), numbers and ordinals in words, ``{{ }}``
unescaped. The routine reader asks here which placeholders a text may hold. Pure; it
reads only the language tables and the pace.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from voice_coach.language import ENGLISH, NAMES, ORDINAL_FORMS
from voice_coach.pace import PACE_KEYS, Pace

REPEAT_PLACEHOLDERS: Final[tuple[str, ...]] = ("n", "nth")
"""Placeholders for the repetition's number: only inside a repeat."""
PACE_PLACEHOLDERS: Final[tuple[str, ...]] = ("pace", *PACE_KEYS)
"""Placeholders for the breath pace in force, spoken as words: allowed in any text."""
PLACEHOLDERS: Final[frozenset[str]] = frozenset(REPEAT_PLACEHOLDERS + PACE_PLACEHOLDERS)
_KNOWN: Final = ", ".join(f"{{{name}}}" for name in REPEAT_PLACEHOLDERS + PACE_PLACEHOLDERS)


# --- Placeholders ---------------------------------------------------------------------


def fill_placeholders(text: str, n: int | None, pace: Pace, lang: str = ENGLISH) -> str:
    """The line ``text`` as it is said: placeholders filled, ``{{ }}`` unescaped.

    ``{n}``/``{nth}`` are the repetition's number (None outside a repeat, where the reader
    allows neither; ``{nth:FORM}`` an ordinal form of ``lang``, see
    ``language.ORDINAL_FORMS``); ``{inhale_s}``, ``{hold_in_s}``, ``{exhale_s}``,
    ``{hold_out_s}`` and ``{pace}`` are ``pace`` in words of ``lang``, so what the voice
    says is what the chimes pace. Only the placeholders the text holds are worded.
    """
    return text.format_map(_Words(n, pace, lang))


@dataclass(frozen=True)
class _Words:
    """The placeholders' values, each worded when a text asks for it."""

    n: int | None
    pace: Pace
    lang: str

    def __getitem__(self, name: str) -> object:
        if name == "pace":
            return spoken_pace(self.pace, self.lang)
        if name in PACE_KEYS:
            return spoken_seconds(getattr(self.pace, name), self.lang)
        if self.n is not None and name == "n":
            return self.n
        if self.n is not None and name == "nth":
            return _Ordinal(self.n, self.lang)
        raise KeyError(name)


@dataclass(frozen=True)
class _Ordinal:
    """``{nth}`` and ``{nth:FORM}``: the ordinal word, formatted on demand."""

    n: int
    lang: str

    def __format__(self, form: str) -> str:
        return ordinal(self.n, self.lang, form)


def placeholder_problem(text: str, lang: str, in_repeat: bool) -> str | None:
    """What is wrong with the placeholders of ``text`` (a line or a title of a routine
    in ``lang``; ``{n}`` and ``{nth}`` only ``in_repeat``), or None."""
    try:
        fields = [(field, spec, conv) for _, field, spec, conv
                  in string.Formatter().parse(text) if field is not None]
    except ValueError as exc:
        return f"bad placeholder ({exc}); write {{{{ and }}}} for braces"
    forms = ORDINAL_FORMS[lang]
    for field, spec, conv in fields:
        if field == "nth" and spec and not conv and spec not in forms:
            return (f"{{nth:{spec}}}: {NAMES[lang]} ordinals take "
                    + (f"one of the forms {', '.join(forms)} ({{nth:{forms[0]}}})" if forms
                       else "no form; write {nth}"))
        if (spec and field != "nth") or conv:
            return f"placeholder {{{field}...}} takes no format or conversion; known: {_KNOWN}"
        if field not in PLACEHOLDERS:
            return (f"unknown placeholder {{{field}}}; known: {_KNOWN};"
                    " write {{ and }} for braces")
        if field in REPEAT_PLACEHOLDERS and not in_repeat:
            return (f"placeholder {{{field}}} is only allowed inside a repeat;"
                    " write {{ and }} for braces")
    return None


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


def spoken_pace(pace: Pace, language: str = ENGLISH) -> str:
    """``in for four, hold for seven, out for eight``: a hold of zero is not mentioned."""
    *phrases, joiner = _PACE_PHRASES[language]
    return joiner.join(phrase.format(_count(seconds, language))
                       for phrase, seconds in zip(phrases, pace.phases_s, strict=True)
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
