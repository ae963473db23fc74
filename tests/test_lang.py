"""Languages: numbers and ordinals, translations and their errors, the language chosen."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from voice_coach.cli import cli
from voice_coach.language import LANGUAGES, PLAN_WORDS, default_voice, locale_language
from voice_coach.pace import Pace
from voice_coach.plan import PlanSettings, estimated_speech_length, plan
from voice_coach.routine import (
    Repeat,
    RoutineError,
    builtin_ids,
    load_builtin,
    load_file,
    parse_routine,
)
from voice_coach.routine_model import Breathe, Say
from voice_coach.spoken import fill_placeholders, number_words, ordinal, spoken_pace, spoken_seconds

DATA = Path(__file__).resolve().parent / "data"
TRANSLATED = ("de", "fr", "es")


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)


# --- Words --------------------------------------------------------------------------


def test_numbers_are_words_as_counted_aloud():
    assert [number_words(n, "de") for n in (1, 7, 16, 21, 30, 99)] == [
        "eins", "sieben", "sechzehn", "einundzwanzig", "dreißig", "neunundneunzig"]
    assert [number_words(n, "fr") for n in (1, 17, 21, 22, 71, 80, 81, 91)] == [
        "un", "dix-sept", "vingt et un", "vingt-deux", "soixante et onze", "quatre-vingts",
        "quatre-vingt-un", "quatre-vingt-onze"]
    assert [number_words(n, "es") for n in (1, 16, 21, 22, 31, 60)] == [
        "uno", "dieciséis", "veintiuno", "veintidós", "treinta y uno", "sesenta"]
    assert number_words(120, "de") == "120"


def test_seconds_and_paces_are_said_in_each_language():
    assert [spoken_seconds(4.5, lang) for lang in ("en", "de", "fr", "es")] == [
        "four and a half", "viereinhalb", "quatre et demi", "cuatro y medio"]
    assert [spoken_seconds(1.5, "de"), spoken_seconds(0.5, "de"), spoken_seconds(6.2, "fr"),
            spoken_seconds(2.75, "es"), spoken_seconds(21, "de")] == [
        "eineinhalb", "eine halbe", "six virgule deux", "dos y tres cuartos", "einundzwanzig"]
    assert [spoken_seconds(s, "de") for s in (1.25, 4.75, 0.25, 0.75)] == [
        "eineinviertel", "vierdreiviertel", "ein Viertel", "drei Viertel"]
    pace = Pace(4.0, 7.0, 8.0, 0.0)
    assert [spoken_pace(pace, lang) for lang in ("en", "de", "fr", "es")] == [
        "in for four, hold for seven, out for eight",
        "ein auf vier, halten auf sieben, aus auf acht",
        "inspirez sur quatre, bloquez sur sept, expirez sur huit",
        "inhala en cuatro, retén en siete, exhala en ocho"]
    assert spoken_pace(Pace(1.0, 0.0, 1.0, 0.0), "de") == "ein auf eins, aus auf eins"


def test_ordinals_agree_in_gender_and_case():
    assert [ordinal(2, "de", form) for form in ("e", "en", "er", "es", "em")] == [
        "zweite", "zweiten", "zweiter", "zweites", "zweitem"]
    assert [ordinal(n, "de") for n in (1, 3, 7, 8, 13, 20, 21, 100)] == [
        "erste", "dritte", "siebte", "achte", "dreizehnte", "zwanzigste", "einundzwanzigste",
        "100."]
    assert [ordinal(1, "fr", "m"), ordinal(1, "fr", "f"), ordinal(2, "fr", "f")] == [
        "premier", "première", "deuxième"]
    assert [ordinal(n, "fr") for n in (5, 9, 11, 21, 80, 100)] == [
        "cinquième", "neuvième", "onzième", "vingt et unième", "quatre-vingtième", "100e"]
    assert [ordinal(n, "es", "m") for n in (1, 2, 3, 11, 13, 20, 21)] == [
        "primer", "segundo", "tercer", "undécimo", "decimotercer", "vigésimo",
        "vigésimo primer"]
    assert [ordinal(n, "es", "f") for n in (1, 3, 13, 21)] == [
        "primera", "tercera", "decimotercera", "vigésima primera"]
    assert [ordinal(2), ordinal(21)] == ["second", "21st"]


def test_a_routine_says_its_ordinals_with_agreement():
    pace = Pace(4, 0, 6, 0)
    assert fill_placeholders("Such dir eine {nth:e} Stelle.", 2, pace, "de") == \
        "Such dir eine zweite Stelle."
    assert fill_placeholders("einen {nth:en} Punkt", 3, pace, "de") == "einen dritten Punkt"
    assert fill_placeholders("un {nth:m} point", 2, pace, "fr") == "un deuxième point"
    assert fill_placeholders("la {nth:f} zone", 1, pace, "fr") == "la première zone"
    assert fill_placeholders("un {nth:m} punto", 3, pace, "es") == "un tercer punto"
    assert fill_placeholders("una {nth:f} zona, {n}", 2, pace, "es") == "una segunda zona, 2"
    assert fill_placeholders("{pace}", None, pace, "fr") == "inspirez sur quatre, expirez sur six"


@pytest.mark.parametrize(("lang", "spec", "message"), [
    ("de", "f", "{nth:f}: German ordinals take one of the forms e, en, er, es, em ({nth:e})"),
    ("fr", "e", "{nth:e}: French ordinals take one of the forms m, f ({nth:m})"),
    ("en", "f", "{nth:f}: English ordinals take no form; write {nth}"),
])
def test_an_ordinal_form_the_language_lacks_is_refused(lang, spec, message):
    text = (f'id = "t"\ntitle = "T"\nlang = "{lang}"\n[[steps]]\n[steps.repeat]\ntimes = 2\n'
            f'[[steps.repeat.steps]]\nsay = "a {{nth:{spec}}} b"\n')
    with pytest.raises(RoutineError) as raised:
        parse_routine(text, source="t.toml")
    assert str(raised.value) == f"t.toml: steps[1].repeat.steps[1].say: {message}"


def test_the_locale_gives_a_language_we_speak():
    assert locale_language({"LANG": "de_DE.UTF-8"}) == ("de", "LANG=de_DE.UTF-8")
    assert locale_language({"LANG": "de_DE.UTF-8", "LC_ALL": "fr_CA"}) == ("fr", "LC_ALL=fr_CA")
    assert locale_language({"LC_MESSAGES": "es_ES@euro", "LANG": "C"}) == (
        "es", "LC_MESSAGES=es_ES@euro")
    assert locale_language({"LANG": "it_IT.UTF-8"}) is None
    assert locale_language({"LANG": "C.UTF-8"}) is None
    assert locale_language({}) is None


def test_each_language_has_its_espeak_voice_and_english_keeps_the_engine_default():
    assert [default_voice(lang) for lang in LANGUAGES] == ["de", None, "es", "fr"]


# --- Built-in translations ----------------------------------------------------------------


@pytest.mark.parametrize("routine_id", ["box-breathing", "four-seven-eight", "psoas-release",
                                        "resonance"])
@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_builtin_exists_in_each_language_with_the_same_timings(routine_id, lang):
    english = load_builtin(routine_id)
    translated = load_builtin(routine_id, lang)
    assert (translated.lang, translated.languages) == (lang, ("de", "en", "es", "fr"))
    assert english.languages == ("de", "en", "es", "fr")
    assert translated.title != english.title

    def shape(step: object) -> object:
        if isinstance(step, Say):
            return ("say", step.hold_s)
        if isinstance(step, Breathe):
            return ("breathe", step.count, step.pace, step.prompt_breaths,
                    step.inhale_prompt is None, step.exhale_prompt is None)
        assert isinstance(step, Repeat)
        return ("repeat", step.times, step.cue, step.count_from,
                tuple(shape(inner) for inner in step.steps))

    assert [shape(s) for s in translated.steps] == [shape(s) for s in english.steps]
    assert (translated.minutes, translated.pace, translated.pace_to, translated.pause_s,
            translated.cues) == (english.minutes, english.pace, english.pace_to,
                                 english.pause_s, english.cues)
    assert (translated.caution is None) == (english.caution is None)
    t = plan(translated, PlanSettings(), estimated_speech_length(140), lambda role: 4000)
    assert t.step_labels[0] == PLAN_WORDS[lang].starting
    assert t.speech_texts()[-1] == PLAN_WORDS[lang].session_complete
    english_texts = set(plan(english, PlanSettings(), estimated_speech_length(140),
                             lambda role: 4000).speech_texts())
    assert not english_texts & set(t.speech_texts()) - {"Round 1.", "Round 2."}


ORDER = tomllib.loads((DATA / "psoas-order.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("lang", TRANSLATED)
def test_psoas_follows_every_instruction_of_the_seed_in_order_in_each_language(lang):
    """The English test's list, in each language's own words (tests/data/psoas-order.toml)."""
    r = load_builtin("psoas-release", lang)
    assert r.caution is not None
    for must in ORDER[lang]["caution"]:
        assert must in r.caution, must
    spoken: list[str] = []
    for step in r.steps:
        inner = step.steps if isinstance(step, Repeat) else (step,)
        if isinstance(step, Repeat):
            assert step.times is None and step.cue == "spot"
        spoken.extend(s.text if isinstance(s, Say) else f"<{s.count} breaths> {s.exhale_prompt}"
                      for s in inner if isinstance(s, Say | Breathe))
    text = "\n".join(spoken)
    instructions = ORDER[lang]["steps"]
    assert len(instructions) == 23  # as many as the English list
    position = 0
    for instruction in instructions:
        found = text.find(instruction, position)
        assert found >= 0, f"missing or out of order: {instruction!r}"
        position = found
    assert "5-10 minutes" in (DATA / "psoas-release-source.txt").read_text(encoding="utf-8")


def test_the_psoas_spots_agree_in_each_language():
    expected = {"de": "Such dir eine zweite Stelle.", "fr": "Cherchez un deuxième point.",
                "es": "Busca un segundo punto."}
    third = {"de": "Such dir eine dritte Stelle.", "fr": "Cherchez un troisième point.",
             "es": "Busca un tercer punto."}
    for lang in TRANSLATED:
        t = plan(load_builtin("psoas-release", lang), PlanSettings(),
                 estimated_speech_length(140), lambda role: 4000)
        texts = t.speech_texts()
        assert any(text.startswith(expected[lang]) for text in texts), lang
        assert any(text.startswith(third[lang]) for text in texts), lang


# --- Choosing the language ----------------------------------------------------------------


def plan_texts(*args: str, env: dict[str, str] | None = None) -> list[str]:
    import json

    result = invoke("plan", *args, "--json", env=env)
    assert result.exit_code == 0, result.stderr
    return [e["text"] for e in json.loads(result.stdout)["events"] if "text" in e]


def test_lang_picks_the_translation_and_the_locale_is_the_default():
    assert plan_texts("box-breathing", "--lang", "fr")[0] == (
        "Asseyez-vous ou allongez-vous confortablement, et relâchez les épaules.")
    assert plan_texts("box-breathing", env={"LANG": "es_ES.UTF-8"})[0] == (
        "Siéntate o túmbate cómodamente, y deja caer los hombros.")
    assert plan_texts("box-breathing", env={"LANG": "it_IT.UTF-8"})[0] == (
        "Sit or lie comfortably, and let your shoulders drop.")
    assert plan_texts("box-breathing", "--lang", "en", env={"LANG": "de_DE.UTF-8"})[0] == (
        "Sit or lie comfortably, and let your shoulders drop.")
    assert plan_texts("box-breathing", env={"LANG": "de_DE.UTF-8",
                                            "VOICE_COACH_LANG": "es"})[0].startswith("Siéntate")


def test_plan_speaks_and_labels_in_the_language():
    result = invoke("plan", "four-seven-eight", "--lang", "de")
    lines = result.stdout.splitlines()
    assert lines[0] == ("4-7-8-Atmung (four-seven-eight): 1:53 (Sprechdauer geschätzt bei"
                        " 140 Wörtern pro Minute)")
    assert lines[2:5] == ["Schritt 1/9: Beginn", "   0:00.0  Stille   0.5 s",
                          "   0:00.5  Ton      Beginn"]
    assert ("Schritt 4/9 (steps[3], Wiederholung 1): 1 Atemzug: ein 4 s, halten 7 s, aus 8 s"
            in lines)
    assert "Schritt 9/9: Die Übung ist zu Ende" in lines
    assert any(line.endswith("Sprache  Ein.") for line in lines)
    assert any(line.endswith("Ton      ausatmen") for line in lines)
    assert lines[-1].endswith("  Ende")
    spanish = invoke("plan", "box-breathing", "--lang", "es").stdout.splitlines()
    assert spanish[2:5] == ["paso 1/8: Inicio", "   0:00.0  silencio 0.5 s",
                            "   0:00.5  sonido   inicio"]


def test_routines_lists_each_in_the_language_with_what_it_has():
    lines = invoke("routines", "--lang", "fr").stdout.splitlines()
    assert lines[2].startswith("psoas-release       7:00  Détente du psoas - Une pression douce")
    assert all(line.endswith("  [de en es fr]") for line in lines)


def test_config_shows_where_the_language_comes_from(tmp_path):
    lines = invoke("config", env={"LANG": "fr_FR.UTF-8"}).stdout.splitlines()
    assert "lang          fr                 locale (LANG=fr_FR.UTF-8), when the routine has it" \
        in lines
    lines = invoke("config", env={"LANG": "C"}).stdout.splitlines()
    assert "lang          (the routine's)    default" in lines
    assert "voice         (the language's)   default" in lines
    assert invoke("config", "set", "lang", "ES").stdout == "lang = es\n"
    lines = invoke("config", env={"LANG": "fr_FR.UTF-8"}).stdout.splitlines()
    assert "lang          es                 config file" in lines


@pytest.mark.parametrize(("args", "env", "message"), [
    (["plan", "--lang", "it"], {},
     "Error: Invalid value for '--lang': 'it' is not one of 'de', 'en', 'es', 'fr'."
     " (see 'voice-coach plan -h')\n"),
    (["routines", "--lang", "xx"], {},
     "Error: Invalid value for '--lang': 'xx' is not one of 'de', 'en', 'es', 'fr'."
     " (see 'voice-coach routines -h')\n"),
    (["plan"], {"VOICE_COACH_LANG": "pt"},
     "Error: VOICE_COACH_LANG: expected one of de, en, es, fr, got 'pt'\n"),
    (["config", "set", "lang", "klingon"], {},
     "Error: lang: expected one of de, en, es, fr, got 'klingon'\n"),
])
def test_an_unknown_language_is_one_line_listing_the_known(args, env, message):
    result = invoke(*args, env=env)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message)


# --- Translations of your own routines ------------------------------------------------------


NECK = '''\
title = "Neck"
summary = "Loosen the neck."
[breath]
inhale_s = 4
exhale_s = 6
[[steps]]
say = "Lie down."
hold_s = 2
[[steps]]
breathe = { count = 2, exhale_prompt = "Let go." }
[[steps]]
title = "{nth} position"
[steps.repeat]
times = 2
[[steps.repeat.steps]]
say = "Turn your head to a {nth} position."
'''

NECK_DE = '''\
lang = "de"
title = "Nacken"
summary = "Den Nacken lockern."
[[steps]]
say = "Leg dich hin."
[[steps]]
breathe = { exhale_prompt = "Lass los." }
[[steps]]
title = "{nth:e} Position"
[steps.repeat]
[[steps.repeat.steps]]
say = "Dreh den Kopf in eine {nth:e} Position."
'''


@pytest.fixture
def neck(tmp_path: Path) -> Path:
    path = tmp_path / "neck.toml"
    path.write_text(NECK, encoding="utf-8")
    (tmp_path / "neck.de.toml").write_text(NECK_DE, encoding="utf-8")
    return path


def test_a_user_routine_carries_its_translation_beside_it(neck):
    english = load_file(neck)
    german = load_file(neck, "de")
    assert (english.languages, german.languages) == (("de", "en"), ("de", "en"))
    assert german.title == "Nacken"
    assert german.steps == (
        Say("Leg dich hin.", 2.0),
        Breathe(2, None, None, "Lass los.", 1),
        Repeat((Say("Dreh den Kopf in eine {nth:e} Position.", 1.0),), times=2, cue="spot",
               title="{nth:e} Position"),
    )
    texts = plan(german, PlanSettings(), estimated_speech_length(140), lambda r: 100)
    assert "Dreh den Kopf in eine zweite Position." in texts.speech_texts()
    assert texts.step_labels[-3:-1] == ("Erste Position", "Zweite Position")


def test_check_validates_the_translations(neck):
    result = invoke("check", str(neck))
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{neck}: ok - Neck (neck), about ")
    assert result.stdout.rstrip().endswith("chimes; languages: de, en")


BROKEN = [
    (NECK_DE.replace('summary = "Den Nacken lockern."\n', ""),
     "neck.de.toml: summary: missing; the routine has this text, so its translation must"),
    (NECK_DE.replace('lang = "de"\n', ""),
     "neck.de.toml: lang: missing; a translation says its language (de, en, es, fr)"),
    (NECK_DE.replace('say = "Leg dich hin."', 'say = "Leg dich hin."\nhold_s = 9'),
     "neck.de.toml: steps[1].hold_s: not a text of the routine; a translation holds only its"
     " words: say"),
    (NECK_DE.replace('breathe = { exhale_prompt = "Lass los." }',
                     'breathe = { exhale_prompt = "Lass los.", inhale_prompt = "Ein." }'),
     "neck.de.toml: steps[2].breathe.inhale_prompt: not a text of the routine; a translation"
     " holds only its words: exhale_prompt"),
    (NECK_DE.replace('[[steps]]\nsay = "Leg dich hin."\n', ""),
     "neck.de.toml: steps: expected 3 [[steps]] tables, one per step of the routine, in its"
     " order"),
    (NECK_DE.replace('eine {nth:e}', 'eine {nth:m}'),
     "neck.de.toml: steps[3].repeat.steps[1].say: {nth:m}: German ordinals take one of the"
     " forms e, en, er, es, em ({nth:e})"),
    (NECK_DE.replace('lang = "de"', 'lang = "fr"'),
     "neck.de.toml: the file is named for de but says lang = 'fr'"),
    (NECK_DE.replace('title = "{nth:e} Position"\n', ""),
     "neck.de.toml: steps[3].title: missing; the routine has this text, so its translation"
     " must"),
    (NECK_DE.replace('say = "Leg dich hin."', 'title = "Hinlegen"\nsay = "Leg dich hin."'),
     "neck.de.toml: steps[1].title: not a text of the routine; a translation holds only its"
     " words: say"),
]


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_a_broken_translation_is_one_line_naming_its_file_and_key(neck, text, message):
    (neck.parent / "neck.de.toml").write_text(text, encoding="utf-8")
    result = invoke("check", str(neck))
    assert (result.exit_code, result.stdout, result.stderr) == (
        2, "", f"Error: {neck.parent}/{message}\n")


def test_a_missing_translation_lists_what_exists(neck, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("plan", "neck.toml", "--lang", "fr")
    assert (result.exit_code, result.stderr) == (
        2, "Error: neck has no French (fr) translation; it has: de, en\n")
    result = invoke("plan", "neck.de.toml")
    assert (result.exit_code, result.stderr) == (
        2, "Error: neck.de.toml is the German translation of neck.toml; name that file, with"
           " --lang de\n")
    # the locale's language is only a preference: a routine without it plays in its own
    assert plan_texts("neck.toml", env={"LANG": "es_ES.UTF-8"})[0] == "Lie down."
    assert plan_texts("neck.toml", env={"LANG": "de_DE.UTF-8"})[0] == "Leg dich hin."


def test_builtin_ids_are_not_confused_with_translations():
    assert builtin_ids() == ["box-breathing", "four-seven-eight", "psoas-release", "resonance"]


def test_your_routines_are_listed_in_the_language_when_translated(neck):
    env = {"VOICE_COACH_ROUTINES_DIR": str(neck.parent)}
    lines = invoke("routines", "--lang", "de", env=env).stdout.splitlines()
    assert lines[-1].startswith("neck ")
    assert "  Nacken - Den Nacken lockern.  [de en] (yours)" in lines[-1]
    lines = invoke("routines", "--lang", "fr", env=env).stdout.splitlines()
    assert "  Neck - Loosen the neck.  [de en] (yours)" in lines[-1]
    assert invoke("plan", "neck", "--lang", "de", "--json", env=env).exit_code == 0


def test_the_guides_example_routine_and_its_translation_check_and_plan(tmp_path):
    """What a person copies from the guide (docs/routines.md) works as it stands, titles and all."""
    guide = (Path(__file__).resolve().parents[1] / "docs" / "routines.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in guide.split("```toml\n")[1:]]
    routine = next(block for block in blocks if block.startswith('id = "neck-release"'))
    german = next(block for block in blocks if block.startswith("# neck-release.de.toml"))
    (tmp_path / "neck-release.toml").write_text(routine, encoding="utf-8")
    (tmp_path / "neck-release.de.toml").write_text(german, encoding="utf-8")
    result = invoke("check", str(tmp_path / "neck-release.toml"))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.rstrip().endswith("languages: de, en")
    labels = plan(load_file(tmp_path / "neck-release.toml", "de"), PlanSettings(),
                  estimated_speech_length(140), lambda role: 100).step_labels
    assert labels[:3] == ("Beginn", "Vorsicht", "Hinlegen")
    assert labels[4:6] == ("Zweite Position", "Dritte Position")
    assert labels[-2:] == ("Langsam aufsetzen", "Die Übung ist zu Ende")
