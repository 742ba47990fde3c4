"""What ``chroma-frame doctor`` found and did: problems, actions, counts, as text or JSON."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

ERROR = "error"  # data is unreadable, unreachable or at risk; the library refuses to open it
WARNING = "warning"  # harmless leftovers (crash debris, derived files, missing descriptions)


@dataclass
class Problem:
    severity: str
    path: str  # absolute path of the file or folder concerned
    message: str
    fix: str | None  # what --repair does about it; None when it cannot repair it

    def line(self) -> str:
        tail = f" [repair: {self.fix}]" if self.fix else " [cannot be repaired]" if self.severity == ERROR else ""
        return f"{self.severity.upper()} {self.path}: {self.message}{tail}"


@dataclass
class Report:
    root: str
    problems: list[Problem] = field(default_factory=list)
    checked: Counter = field(default_factory=Counter)  # collections, log entries, blockfiles, ...
    actions: list[str] = field(default_factory=list)  # what --repair did
    found: list[Problem] | None = None  # with --repair: the problems before repairing

    def add(self, severity: str, path: str, message: str, fix: str | None = None) -> Problem:
        problem = Problem(severity, path, message, fix)
        self.problems.append(problem)
        return problem

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def healthy(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        counts = ", ".join(f"{n} {what}" for what, n in self.checked.items())
        verdict = "healthy" if self.healthy else "NOT healthy"
        text = f"{self.root}: {verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s); checked {counts}"
        if self.found is not None:
            text += f"; repair: {len(self.actions)} action(s) on {len(self.found)} problem(s) found"
        return text

    def text(self) -> str:
        lines = []
        if self.found is not None:
            lines += [f"found: {p.line()}" for p in self.found]
            lines += [f"repaired: {a}" for a in self.actions]
            lines += [f"remains: {p.line()}" for p in self.problems]
        else:
            lines += [p.line() for p in self.problems]
        return "\n".join(lines + [self.summary()])

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"root": self.root, "healthy": self.healthy, "checked": dict(self.checked),
                               "problems": [asdict(p) for p in self.problems]}
        if self.found is not None:
            out["found"] = [asdict(p) for p in self.found]
            out["actions"] = self.actions
        return out
