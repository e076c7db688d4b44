"""One row of the audit report: what was checked, how it went, the evidence."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Status(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    WARN = "WARN"
    SKIP = "SKIP"


class Severity(str, Enum):
    """How bad a failure of this check is (a PASS keeps its check's severity)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True)
class Outcome:
    """What a check function returns: the verdict and the evidence behind it."""

    status: Status
    evidence: str


def passed(evidence: str) -> Outcome:
    return Outcome(Status.PASS, evidence)


def failed(evidence: str) -> Outcome:
    return Outcome(Status.FAIL, evidence)


def warned(evidence: str) -> Outcome:
    return Outcome(Status.WARN, evidence)


def skipped(evidence: str) -> Outcome:
    return Outcome(Status.SKIP, evidence)


@dataclass(frozen=True)
class Result:
    """A report row; ``evidence`` is already redacted."""

    id: str
    title: str
    family: str
    status: Status
    severity: Severity
    evidence: str
    reference: str
    attack: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id, "title": self.title, "family": self.family, "status": self.status.value,
            "severity": self.severity.value, "evidence": self.evidence, "reference": self.reference,
            "attack": self.attack,
        }
