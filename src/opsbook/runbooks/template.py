"""``${name}`` references in step bodies and attributes: the run's parameters and the values
earlier steps saved. One substitution for every step kind, so dry-run shows exactly what runs.

Secret values are never put into text that is shown or recorded: ``mask=True`` writes *** in
their place (what ``Rendered.display`` holds). A kind that must hand a secret to its child does so
by value in ``spec`` (an environment variable, a bound SQL parameter), not in the display text.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from ..config.secrets import REDACTED
from ..errors import UndefinedVariable

REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def refs(text: str) -> list[str]:
    """The names referenced in text, in order of first use."""
    return list(dict.fromkeys(REF.findall(text)))


def substitute(text: str, values: Mapping[str, str], secret_names: Collection[str] = (), *,
               mask: bool = False) -> str:
    """``text`` with each ``${name}`` replaced by its value (*** for a secret when ``mask``);
    an unknown name raises UndefinedVariable naming it and the names there are."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise UndefinedVariable(f"${{{name}}} is not a parameter or a value saved by an earlier step",
                                    hint=f"defined here: {known}")
        return REDACTED if mask and name in secret_names else values[name]

    return REF.sub(one, text)
