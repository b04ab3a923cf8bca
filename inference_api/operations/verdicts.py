"""The outcome of one pre-traffic checklist item (see checklist.py)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """The outcome of one checklist item, with the reason in a few words.

    `warning` marks an item that passes but that an operator should act on
    (preflight prints it with "!", `check --deploy` reports a Warning).
    """

    ok: bool
    detail: str
    warning: bool = False


def passed(detail: str) -> Verdict:
    return Verdict(True, detail)


def failed(detail: str) -> Verdict:
    return Verdict(False, detail)


def warned(detail: str) -> Verdict:
    return Verdict(True, detail, warning=True)
