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

__all__ = ["TOKEN_ENV", "TOKEN_FILE_ENV", "Token", "load_token", "redact", "seal", "unseal"]

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


_PREFIX = 8  # a shown prefix this long already narrows a token down too far


def _token_spans(text: str, secret: str) -> list[tuple[int, int]]:
    """Where ``secret`` or a prefix of it at least 8 characters long appears in ``text``."""
    spans = []
    head = secret[:_PREFIX]
    start = text.find(head)
    while start != -1 and len(head) == _PREFIX:
        end = start + len(head)
        while end - start < len(secret) and end < len(text) and text[end] == secret[end - start]:
            end += 1
        spans.append((start, end))
        start = text.find(head, end)
    return spans


def redact(text: str, token: Token | str | None) -> str:
    """``text`` with the token, and any prefix of it of 8 or more characters, replaced by ``[REDACTED]``.

    Servers echo tokens in odd places (a cursor, a Link URL, a 401 message quoting the
    first characters of what was sent), so a prefix is as secret as the whole.
    """
    if token is None or not text:
        return text
    secret = token.reveal() if isinstance(token, Token) else token
    if not secret:
        return text
    if len(secret) < _PREFIX:
        return text.replace(secret, REDACTED)
    out, last = [], 0
    for start, end in _token_spans(text, secret):
        out.append(text[last:start])
        out.append(REDACTED)
        last = end
    out.append(text[last:])
    return "".join(out)


_SEALED = "\x00auditreports-token:{}\x00"


def seal(text: str | None, token: Token) -> str | None:
    """``text`` (a cursor or URL) with the token replaced by a marker, for the checkpoint on disk.

    Unlike :func:`redact` this is reversible with the same token, so a fetch can resume
    from a cursor the server built around the token without the token touching disk.
    """
    if text is None:
        return None
    secret = token.reveal()
    if len(secret) < _PREFIX:
        return text.replace(secret, _SEALED.format(len(secret)))
    out, last = [], 0
    for start, end in _token_spans(text, secret):
        out.append(text[last:start])
        out.append(_SEALED.format(end - start))
        last = end
    out.append(text[last:])
    return "".join(out)


def unseal(text: str | None, token: Token) -> str | None:
    """The cursor or URL :func:`seal` wrote, with the token put back."""
    if text is None:
        return None
    import re

    secret = token.reveal()
    return re.sub("\x00auditreports-token:(\\d+)\x00", lambda m: secret[: int(m.group(1))], text)
