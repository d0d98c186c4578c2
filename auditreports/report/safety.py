"""Keeping attacker-controlled text inert in a PDF.

Notes, reasons, user agents and before/after states come from the audited platform
and may hold markup such as ``<img src="file:///etc/passwd">``. Three layers keep it
text: Jinja autoescaping (the markup is printed, not parsed), CSS passed as strings,
and :class:`DataOnlyFetcher`, which lets WeasyPrint load nothing but ``data:`` URLs
and stops the render with :class:`~auditreports.errors.UnsafeResourceError` otherwise,
so a template mistake can never turn into a file read or a network request.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path

from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from ..errors import ConfigError

__all__ = ["DataOnlyFetcher", "RefusedResource", "data_uri", "file_data_uri"]


class RefusedResource(FatalURLFetchingError):
    """Raised inside WeasyPrint to abort the render; converted to UnsafeResourceError."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class DataOnlyFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves ``data:`` URLs and refuses everything else.

    Every refused URL is kept in ``refused`` for the error message.
    """

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), fail_on_errors=True, allow_redirects=False)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
        if url[:5].lower() != "data:":
            self.refused.append(url)
            raise RefusedResource(url)
        return super().fetch(url)


def data_uri(payload: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` for inlining a chart or logo."""
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def file_data_uri(path: Path) -> str:
    """Read an image file (the organisation logo) once and inline it."""
    mime = mimetypes.guess_type(path.name)[0]
    if mime not in ("image/png", "image/jpeg", "image/svg+xml", "image/gif", "image/webp"):
        raise ConfigError(
            f"logo {path} is not a PNG, JPEG, GIF, WebP or SVG image; give an image file.", path=str(path)
        )
    try:
        return data_uri(path.read_bytes(), mime)
    except OSError as exc:
        raise ConfigError(
            f"logo {path} cannot be read ({exc.strerror}); check the logo setting.", path=str(path)
        ) from None
