"""The pre-survey bot: a few questions before a contact is queued.

Answers are free-form ("14", "I'm 14", "girl", "F") and "skip" is always
accepted. A helpline sets its questions, prompts (per language) and extra
accepted words in settings.pre_survey; the English words below always work.
An answer not understood is asked once more, then recorded as unknown.
"""
from __future__ import annotations

import re
import unicodedata

QUESTION_KEYS = ("about_self", "age", "gender")
MAX_MISSES = 1

DEFAULT_QUESTIONS = [
    {"key": "about_self", "prompt": {"en": "Hello, and thank you for contacting us. Are you contacting us about yourself? Please answer yes or no (or skip)."}},
    {"key": "age", "prompt": {"en": "How old are you? (or skip)"}},
    {"key": "gender", "prompt": {"en": "What is your gender: girl, boy or non-binary? (or skip)"}},
]
NOT_UNDERSTOOD = {"en": "Sorry, I did not understand."}

SKIP_WORDS = {"skip", "pass", "prefer not to say", "rather not say", "dont know", "don't know", "idk", "not sure", "no answer"}
BUILTIN_ANSWERS = {
    "about_self": {
        True: {"yes", "y", "yeah", "yep", "yup", "me", "myself", "about me", "its me", "it's me", "1"},
        False: {"no", "n", "nope", "someone else", "a friend", "friend", "my friend", "not me", "2"},
    },
    "gender": {
        "girl": {"girl", "g", "f", "female", "woman"},
        "boy": {"boy", "b", "m", "male", "man"},
        "non_binary": {"non-binary", "nonbinary", "non binary", "nb", "enby"},
        "unknown": {"unknown", "other"},
    },
}
NUMBER_WORDS = {
    word: value for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
NUMBER_WORDS.update({f"twenty {w}": 20 + n for w, n in list(NUMBER_WORDS.items())[1:6]})
NUMBER_WORDS.update({f"twenty-{w}": 20 + n for w, n in list(NUMBER_WORDS.items())[1:6]})

_NOT_ANSWERED = object()


def fold(text: str) -> str:
    """Lower-case, accents off, punctuation to spaces: "I'm 14!" -> "im 14"."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace("'", "")
    return " ".join(re.sub(r"[^a-z0-9\- ]+", " ", text).split())


def match_strength(folded: str, words) -> int:
    """3: the whole answer is one of the words; 2: it contains one of the phrases; 1: one of the words; 0: none."""
    folded_words = {fold(w) for w in words}
    if folded in folded_words:
        return 3
    padded = f" {folded} "
    if any(" " in w and f" {w} " in padded for w in folded_words):
        return 2
    tokens = set(folded.split())
    if any(" " not in w and len(w) > 1 and w in tokens for w in folded_words):
        return 1
    return 0


def questions(settings: dict) -> list[dict]:
    return settings["pre_survey"].get("questions") or DEFAULT_QUESTIONS


def localised(texts, language: str | None, default_language: str) -> str:
    if isinstance(texts, str):
        return texts
    for lang in (language, default_language, "en"):
        if lang and lang in texts:
            return texts[lang]
    return next(iter(texts.values()))


def parse_answer(question: dict, text: str):
    """The recorded value, or _NOT_ANSWERED when the answer is not understood."""
    folded = fold(text)
    extra = question.get("answers") or {}
    if match_strength(folded, SKIP_WORDS | set(extra.get("skip", []))):
        return "unknown" if question["key"] == "gender" else None
    key = question["key"]
    if key == "age":
        digits = re.findall(r"\b\d{1,3}\b", folded)
        if digits:
            age = int(digits[0])
            return age if 0 <= age <= 25 else None  # an adult: age not recorded
        for phrase, value in sorted(NUMBER_WORDS.items(), key=lambda item: -len(item[0])):
            if re.search(rf"\b{re.escape(phrase)}\b", folded):
                return value
        return _NOT_ANSWERED
    best, best_strength = _NOT_ANSWERED, 0
    for value, words in BUILTIN_ANSWERS[key].items():
        configured = extra.get(str(value).lower() if isinstance(value, bool) else value, [])
        strength = match_strength(folded, set(words) | set(configured))
        if strength > best_strength:
            best, best_strength = value, strength
    return best


def start(settings: dict, language: str | None) -> tuple[dict, str]:
    """The bot's initial state and its first question."""
    first = questions(settings)[0]
    return {"index": 0, "misses": 0, "answers": {}}, localised(first["prompt"], language, settings["default_language"])


def advance(settings: dict, state: dict, text: str, language: str | None) -> tuple[dict, str | None, bool]:
    """Take one answer: (new state, the next question or None, finished)."""
    asked = questions(settings)
    state = {**state, "answers": dict(state["answers"])}
    question = asked[state["index"]]
    value = parse_answer(question, text)
    if value is _NOT_ANSWERED and state["misses"] < MAX_MISSES:
        state["misses"] += 1
        sorry = localised(NOT_UNDERSTOOD, language, settings["default_language"])
        return state, f"{sorry} {localised(question['prompt'], language, settings['default_language'])}", False
    state["answers"][question["key"]] = None if value is _NOT_ANSWERED else value
    state["index"] += 1
    state["misses"] = 0
    if state["index"] >= len(asked):
        return state, None, True
    return state, localised(asked[state["index"]]["prompt"], language, settings["default_language"]), False


def prefill_form(answers: dict) -> dict:
    """The draft record the counsellor starts from."""
    form: dict = {}
    if answers.get("about_self") is True:
        form["call_type"] = "child"
    elif answers.get("about_self") is False:
        form["call_type"] = "caller_about_child"
    child = {}
    if "age" in answers:
        child["age"] = answers["age"]
    if answers.get("gender"):
        child["gender"] = answers["gender"]
    if child:
        form["child"] = child
    return form
