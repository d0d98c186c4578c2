"""Collecting every problem in a rule or framework file before reporting any.

An analyst editing ten rule files wants one run that lists every mistake with
``file:line``, not a fix-one-rerun loop; so validators append here and the loader
raises one :class:`~auditreports.errors.RuleError` at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import RuleError

__all__ = ["Problems"]


@dataclass
class Problems:
    """An ordered list of ``(file, line, message)`` problems."""

    items: list[tuple[str, int | None, str]] = field(default_factory=list)

    def add(self, file: str, line: int | None, message: str) -> None:
        self.items.append((file, line, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def lines(self) -> list[str]:
        """Each problem as ``file:line: message``."""
        return [f"{f}:{ln}: {m}" if ln is not None else f"{f}: {m}" for f, ln, m in self.items]

    def raise_if_any(self, what: str = "rule file") -> None:
        if not self.items:
            return
        self.items.sort(key=lambda item: (item[0], item[1] or 0))
        n = len(self.items)
        first = self.lines()[0]
        more = f" (and {n - 1} more problem{'s' if n > 2 else ''})" if n > 1 else ""
        raise RuleError(f"invalid {what}: {first}{more}; fix the file(s) and rerun.", errors=list(self.items))
