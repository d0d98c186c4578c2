"""The API token: read from the environment only, and never shown anywhere.

Why so strict: an audit-log token usually reads every customer's conversations.
Command-line arguments end up in shell history and ``ps``; notebook parameters are
saved in the executed notebook. So the token comes from ``AUDITREPORTS_TOKEN`` or a
file named by ``AUDITREPORTS_TOKEN_FILE``, is kept in a :class:`Token` whose repr
hides it, and every message that leaves the client goes through :func:`redact`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import UsageError

__all__ = ["TOKEN_ENV", "TOKEN_FILE_ENV", "Token", "load_token", "redact"]

TOKEN_ENV = "AUDITREPORTS_TOKEN"
TOKEN_FILE_ENV = "AUDITREPORTS_TOKEN_FILE"
REDACTED = "[REDACTED]"


class Token:
    """A bearer token that does not print itself."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str) -> None:
        secret = secret.strip()
        if not secret:
            raise UsageError(
                f"the API token is empty; put the token in {TOKEN_ENV} or in the file named by {TOKEN_FILE_ENV}"
            )
        if any(c.isspace() or not c.isprintable() for c in secret):
            raise UsageError("the API token contains whitespace or control characters; check how it was copied")
        self._secret = secret

    def reveal(self) -> str:
        """The secret itself, for the Authorization header and nothing else."""
        return self._secret

    def authorization(self, scheme: str = "Bearer") -> str:
        """The ``Authorization`` header value: ``Bearer <token>``, or ``SSWS <token>`` for Okta API tokens."""
        return f"{scheme} {self._secret}"

    def __repr__(self) -> str:
        return f"Token({REDACTED})"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:  # never pickled into a cache or a notebook
        raise TypeError("a Token cannot be pickled")


def load_token(environ: Mapping[str, str] | None = None) -> Token:
    """The token from ``AUDITREPORTS_TOKEN``, else the file named by ``AUDITREPORTS_TOKEN_FILE``."""
    env = os.environ if environ is None else environ
    value = env.get(TOKEN_ENV)
    if value:
        return Token(value)
    path = env.get(TOKEN_FILE_ENV)
    if path:
        try:
            return Token(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(
                f"cannot read the token file named by {TOKEN_FILE_ENV} ({exc.strerror}); check the path and its permissions"
            ) from None
        except UnicodeDecodeError:
            raise UsageError(
                f"the token file named by {TOKEN_FILE_ENV} is not UTF-8 text; it should hold the token alone"
            ) from None
    raise UsageError(
        f"no API token: set {TOKEN_ENV} (or {TOKEN_FILE_ENV} to a file holding the token); "
        "tokens are never accepted on the command line"
    )


def redact(text: str, token: Token | str | None) -> str:
    """``text`` with every occurrence of the token replaced by ``[REDACTED]``."""
    if token is None:
        return text
    secret = token.reveal() if isinstance(token, Token) else token
    return text.replace(secret, REDACTED) if secret else text
