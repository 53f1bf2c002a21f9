"""The post-contact survey: the helpline's questions, asked after a counsellor ends the conversation.

Three question types: `scale` (1 to 5: "4", "4/5", "four", "5 stars"), `yes_no` ("yes!", "nope")
and `free` (any text; stored encrypted, never counted). "skip" always works. An answer not
understood is asked once more, then recorded as unanswered. Pure functions: the channel flow that
stores and sends lives in app/channels/service.py.
"""
from __future__ import annotations

import re

from app.channels.presurvey import MAX_MISSES, NOT_UNDERSTOOD, SKIP_WORDS, fold, localised, match_strength

QUESTION_TYPES = ("scale", "yes_no", "free")
SCALE = range(1, 6)
DEFAULT_TIMEOUT_MIN = 30

DEFAULT_QUESTIONS = [
    {"id": "helpful", "type": "scale",
     "prompt": {"en": "Before you go: how helpful was this chat, from 1 (not at all) to 5 (very)? (or skip)"}},
    {"id": "would_return", "type": "yes_no",
     "prompt": {"en": "Would you contact us again if you needed to? Please answer yes or no (or skip)."}},
    {"id": "comment", "type": "free",
     "prompt": {"en": "Is there anything you would like to tell us about the chat? (or skip)"}},
]
DEFAULT_THANKS = {"en": "Thank you for your answers. Take care."}
YES_WORDS = {"yes", "y", "yeah", "yep", "yup", "sure", "of course", "definitely", "ok", "okay"}
NO_WORDS = {"no", "n", "nope", "nah", "not really", "never"}
SCALE_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_NOT_ANSWERED = object()


def survey_settings(settings: dict) -> dict:
    """The helpline's post_survey settings with their defaults filled in."""
    configured = settings.get("post_survey") or {}
    return {
        "enabled": bool(configured.get("enabled")),
        "questions": configured.get("questions") or DEFAULT_QUESTIONS,
        "thanks": configured.get("thanks") or DEFAULT_THANKS,
        "timeout_min": configured.get("timeout_min") or DEFAULT_TIMEOUT_MIN,
    }


def first_scale_id(questions: list[dict]) -> str | None:
    """The question statistics average (`satisfaction_avg`): the first of type scale."""
    return next((q["id"] for q in questions if q["type"] == "scale"), None)


def parse_answer(question: dict, text: str):
    """The recorded value (None for skip), or _NOT_ANSWERED when the answer is not understood."""
    folded = fold(text)
    if not folded:
        return _NOT_ANSWERED
    if match_strength(folded, SKIP_WORDS):
        return None
    kind = question["type"]
    if kind == "free":
        return text.strip()
    if kind == "scale":
        # "4/5" and "4 out of 5" give their first number; "10/10" is out of range, not a 1.
        numbers = re.findall(r"\b\d+\b", folded)
        if numbers:
            value = int(numbers[0])
            return value if value in SCALE else _NOT_ANSWERED
        for word, value in SCALE_WORDS.items():
            if word in folded.split():
                return value
        return _NOT_ANSWERED
    yes, no = match_strength(folded, YES_WORDS), match_strength(folded, NO_WORDS)
    if yes > no:
        return True
    if no > yes:
        return False
    return _NOT_ANSWERED


def start(settings: dict, language: str | None) -> tuple[dict, str]:
    """The survey's initial state and its first question."""
    survey = survey_settings(settings)
    first = survey["questions"][0]
    return {"index": 0, "misses": 0}, localised(first["prompt"], language, settings["default_language"])


def advance(settings: dict, state: dict, text: str, language: str | None
            ) -> tuple[dict, tuple[str, object] | None, str, bool]:
    """Take one answer: (new state, (question id, value) to record or None, the reply, finished)."""
    survey = survey_settings(settings)
    asked = survey["questions"]
    default_language = settings["default_language"]
    state = dict(state)
    if state["index"] >= len(asked):  # the questions were shortened mid-survey
        return state, None, localised(survey["thanks"], language, default_language), True
    question = asked[state["index"]]
    value = parse_answer(question, text)
    if value is _NOT_ANSWERED and state["misses"] < MAX_MISSES:
        state["misses"] += 1
        sorry = localised(NOT_UNDERSTOOD, language, default_language)
        return state, None, f"{sorry} {localised(question['prompt'], language, default_language)}", False
    answer = (question["id"], None if value is _NOT_ANSWERED else value)
    state["index"] += 1
    state["misses"] = 0
    if state["index"] >= len(asked):
        return state, answer, localised(survey["thanks"], language, default_language), True
    return state, answer, localised(asked[state["index"]]["prompt"], language, default_language), False


def form_answer(question: dict, value):
    """A web chat form's answer for one question, checked against its type: the value to record, or
    _NOT_ANSWERED when it does not fit (the schema turns that into a 422)."""
    if value is None:
        return None
    kind = question["type"]
    if kind == "scale":
        return value if isinstance(value, int) and not isinstance(value, bool) and value in SCALE else _NOT_ANSWERED
    if kind == "yes_no":
        return value if isinstance(value, bool) else _NOT_ANSWERED
    if isinstance(value, str) and len(value) <= 2000:
        return value.strip() or None
    return _NOT_ANSWERED


def is_not_answered(value) -> bool:
    return value is _NOT_ANSWERED
