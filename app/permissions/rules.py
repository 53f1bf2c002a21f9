"""The rules document: {action: [condition set, ...]}; sets are ORed, conditions in a set ANDed."""
from __future__ import annotations

ACTIONS = {
    "view_contact": "contact", "edit_contact": "contact", "view_transcript": "contact",
    "view_case": "case", "edit_case": "case", "close_case": "case", "reopen_case": "case",
    "add_case_section": "case", "edit_case_section": "case", "link_contact": "case",
    "view_profile": "profile", "flag_profile": "profile",
    "view_attachment": "case", "add_attachment": "case", "delete_attachment": "case",
}
SIMPLE_CONDITIONS = ("everyone", "nobody", "is_supervisor", "is_owner", "is_case_owner", "is_case_open",
                     "is_case_contact_owner")
PARAMETER_CONDITIONS = ("created_within_hours", "created_within_days")

SUPERVISOR = ["is_supervisor"]
DEFAULT_RULES: dict[str, list[list]] = {
    "view_contact": [SUPERVISOR, ["is_owner"]],
    "edit_contact": [SUPERVISOR, ["is_owner", {"created_within_hours": 24}]],
    "view_transcript": [SUPERVISOR, ["is_owner"]],
    "view_case": [SUPERVISOR, ["is_case_owner"], ["is_case_contact_owner"]],
    "edit_case": [SUPERVISOR, ["is_case_owner"]],
    "close_case": [SUPERVISOR, ["is_case_owner"]],
    "reopen_case": [SUPERVISOR],
    "add_case_section": [SUPERVISOR, ["is_case_owner", "is_case_open"], ["is_case_contact_owner", "is_case_open"]],
    "edit_case_section": [SUPERVISOR, ["is_case_owner", "is_case_open"]],
    "link_contact": [SUPERVISOR, ["is_case_owner", "is_case_open"]],
    "view_profile": [SUPERVISOR, ["is_owner"]],
    "flag_profile": [SUPERVISOR],
    # Like the case's sections: who reads the case reads its files; who adds sections adds files.
    "view_attachment": [SUPERVISOR, ["is_case_owner"], ["is_case_contact_owner"]],
    "add_attachment": [SUPERVISOR, ["is_case_owner", "is_case_open"], ["is_case_contact_owner", "is_case_open"]],
    "delete_attachment": [SUPERVISOR, ["is_case_owner", "is_case_open"]],
}


def rule_errors(rules) -> dict:
    """Per action, what is wrong with a rules document ({} when it is valid)."""
    if not isinstance(rules, dict):
        return {"_schema": ["Expected an object keyed by action."]}
    errors: dict = {}
    for action, sets in rules.items():
        if action not in ACTIONS:
            errors[action] = [f"Unknown action; actions are: {', '.join(ACTIONS)}."]
            continue
        if not isinstance(sets, list) or not all(isinstance(s, list) for s in sets):
            errors[action] = ["Expected a list of condition sets (lists)."]
            continue
        problems = [p for s in sets for p in (_condition_error(c) for c in s) if p]
        if problems:
            errors[action] = problems
    return errors


def _condition_error(condition) -> str | None:
    if isinstance(condition, str):
        return None if condition in SIMPLE_CONDITIONS else f"Unknown condition {condition!r}."
    if isinstance(condition, dict) and len(condition) == 1:
        (name, value), = condition.items()
        if name not in PARAMETER_CONDITIONS:
            return f"Unknown condition {name!r}."
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 100_000:
            return f"{name} takes a positive whole number."
        return None
    return f"Unknown condition {condition!r}."


def effective_rules(stored: dict | None) -> dict:
    """Defaults, with each action the helpline set replacing the default for it."""
    return {**DEFAULT_RULES, **(stored or {})}
