"""One line of ``voice-coach doctor``'s report: what ``doctor`` checks itself and what the
engine registry checks for each engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One check's result; ``fix`` says what to do when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
