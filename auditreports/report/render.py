"""Rendering: Jinja2 formats the report model, WeasyPrint makes an archival PDF.

- Every template, shipped or not, renders in Jinja's :class:`~jinja2.sandbox.SandboxedEnvironment`
  with autoescaping on: notes and user agents print as text, never as markup, and a template
  cannot reach Python internals (``cycler.__init__.__globals__`` is refused with a ReportError).
- Overrides come only from a directory named explicitly (``--templates DIR`` or
  ``report.templates_dir``), never from the working directory. It is searched before the
  shipped templates; ``{% extends "default:soc2.html" %}`` in an override extends the shipped
  template of that name (datasette's convention). A kind without its own template
  (``acme.html``) renders with the generic ``report.html``. The stylesheet ``report.css`` is
  looked up the same way and handed to WeasyPrint as a string.
- WeasyPrint may load nothing but ``data:`` URLs (:class:`~.safety.DataOnlyFetcher`);
  anything else aborts the render with :class:`~auditreports.errors.UnsafeResourceError`.
- The PDF is PDF/A-3b with the evidence files embedded as attachments and written
  atomically: a temporary file renamed into place, so a failed run never leaves a
  ``report.pdf`` that looks final.
"""

from __future__ import annotations

import gc
import os
import re
import tempfile
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import jinja2
import markupsafe
from jinja2.sandbox import SandboxedEnvironment
from weasyprint import CSS, HTML, Attachment

from .._resources import templates_dir
from ..errors import ReportError, UnsafeResourceError
from .model import ReportModel
from .safety import DataOnlyFetcher, RefusedResource
from .settings import ReportSettings

__all__ = [
    "GENERIC_TEMPLATE",
    "PACKAGE_TEMPLATES",
    "override_directory",
    "render_html",
    "render_html_twin",
    "render_pdf",
    "render_pdf_bytes",
    "template_environment",
    "write_pdf_bytes",
]

PACKAGE_TEMPLATES = templates_dir()
GENERIC_TEMPLATE = "report.html"  # any report kind without a template of its own

# What each embedded file is, for the PDF's attachment descriptions.
ATTACHMENT_DESCRIPTIONS = {
    "findings.json": "Findings of the detection rules, with the ids of their evidence events",
    "events.csv": "Every evidence event, every canonical column (spreadsheet-safe CSV)",
    "verification.json": "Integrity verdict with every break and every check that could not be made",
    "manifest.json": "Manifest of the inputs (sha256 per file) and of the store",
    "subject_data.json": "The data subject's data, machine-readable (JSON)",
    "subject_data.csv": "The data subject's data, machine-readable (CSV)",
    "redactions.json": "What the subject access response withheld or replaced, and why",
    "review.yml": "The review file: the reviewer's decision on each finding (its sha256 is in the manifest)",
}

# Bidirectional controls and invisible characters in untrusted text would be obeyed by the
# PDF's text layout ("invoice\u202egpj.exe" reads "invoiceexe.jpg"): every value a template
# prints shows them as visible <U+XXXX> marks instead (the template_environment finalize).
# Zero-width (non-)joiners are kept only between two non-ASCII, non-space characters, where
# Devanagari, Arabic and emoji sequences (👩‍💻) need them; anywhere else they are marked too.
_INVISIBLE = re.compile(
    "[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
    "|(?<![^\\x00-\\x7f\\s])[\u200c\u200d]|[\u200c\u200d](?![^\\x00-\\x7f\\s])"
)


def visible_controls(value: object) -> object:
    """A printed value with bidi controls and zero-width characters shown as ``<U+202E>``."""
    if isinstance(value, str) and not isinstance(value, markupsafe.Markup) and _INVISIBLE.search(value):
        return _INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", value)
    return value


def override_directory(settings: ReportSettings | None = None) -> Path | None:
    """The organisation template directory named by ``templates_dir`` (``--templates``), or None.

    Nothing is picked up from the working directory. A named directory that does not exist
    is a mistake and raises.
    """
    settings = settings or ReportSettings()
    directory = settings.templates_dir
    if directory is None:
        return None
    if not directory.is_dir():
        raise ReportError(
            f"template directory {directory} does not exist; fix --templates or the templates_dir setting.",
            path=str(directory),
        )
    return directory


def template_environment(settings: ReportSettings | None = None) -> jinja2.Environment:
    """The sandboxed Jinja environment: organisation overrides first, autoescape always on."""
    shipped = jinja2.FileSystemLoader(str(PACKAGE_TEMPLATES))
    searchpath = []
    overrides = override_directory(settings)
    if overrides is not None:
        searchpath.append(str(overrides))
    searchpath.append(str(PACKAGE_TEMPLATES))
    return SandboxedEnvironment(
        loader=jinja2.ChoiceLoader(
            [
                # "default:base.html" is always the shipped template, so an override can extend it.
                jinja2.PrefixLoader({"default": shipped}, delimiter=":"),
                jinja2.FileSystemLoader(searchpath),
            ]
        ),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        finalize=visible_controls,
    )


def render_html(model: ReportModel, settings: ReportSettings | None = None) -> str:
    """The report as an HTML string (also handy to preview in a notebook)."""
    env = template_environment(settings)
    try:
        template = env.select_template([f"{model.kind}.html", GENERIC_TEMPLATE])
        return template.render(model=model)
    except jinja2.exceptions.SecurityError as exc:
        raise ReportError(
            f"the {model.kind} report template tried something templates may not do ({exc}); "
            "templates format values, they cannot call into Python — fix the template override."
        ) from None
    except jinja2.TemplateError as exc:
        raise ReportError(f"the {model.kind} report template failed: {exc}; check your template overrides.") from None


def _chart_html(key: str, figure: object) -> str:
    """An interactive Plotly chart as a div and a script; the figure's JSON cannot close the script."""
    import plotly.io as pio

    data = pio.to_json(figure, validate=False).replace("<", "\\u003c").replace(">", "\\u003e")
    div = f"chart-{key}".replace('"', "")
    return (
        f'<div id="{div}" class="plotly-chart" style="height: 360px"></div>'
        f"<script>(function(){{var f={data};Plotly.newPlot({div!r},f.data,f.layout,"
        "{displaylogo:false,responsive:true});})();</script>"
    )


def render_html_twin(model: ReportModel, settings: ReportSettings | None = None) -> str:
    """The HTML twin of the PDF: same model, same template, one self-contained file.

    The stylesheet and plotly.js are inlined and every chart is interactive (Plotly), so the
    file works offline and requests nothing from the network. The PDF stays the archival record.
    """
    from plotly.offline import get_plotlyjs

    saved = {key: c.html for key, c in model.charts.items()}
    plotly_js = get_plotlyjs().replace("</script", "<\\/script")
    model.extra["twin"] = {"css": _stylesheet(settings).replace("</", "<\\/"), "plotly": plotly_js}
    try:
        for key, c in model.charts.items():
            if c.figure is not None:
                c.html = _chart_html(key, c.figure)
        return render_html(model, settings)
    finally:
        model.extra.pop("twin", None)
        for key, c in model.charts.items():
            c.html = saved[key]


def _stylesheet(settings: ReportSettings | None) -> str:
    env = template_environment(settings)
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, "report.css")
    return source


def write_pdf_bytes(
    html: str,
    css: str,
    *,
    attachments: Mapping[str, bytes] | None = None,
    created: datetime | None = None,
) -> bytes:
    """HTML + CSS strings -> PDF/A-3b bytes, with only ``data:`` URLs loadable."""
    fetcher = DataOnlyFetcher()
    files = [
        Attachment(
            string=payload,
            name=name,
            description=ATTACHMENT_DESCRIPTIONS.get(name, name),
            created=created,
            modified=created,
            relationship="Data" if name != "manifest.json" else "Supplement",
            url_fetcher=fetcher,
        )
        for name, payload in (attachments or {}).items()
    ]
    try:
        with warnings.catch_warnings():
            # WeasyPrint opens its sRGB ICC profile without closing it (a ResourceWarning
            # at garbage collection); collect inside this block so it is not ours to see.
            warnings.simplefilter("ignore", ResourceWarning)
            document = HTML(string=html, url_fetcher=fetcher, base_url=None).render(
                stylesheets=[CSS(string=css, url_fetcher=fetcher)]
            )
            pdf = document.write_pdf(pdf_variant="pdf/a-3b", attachments=files)
            del document
            gc.collect()
    except RefusedResource as exc:
        raise UnsafeResourceError(
            f"the report tried to load {exc.url!r}; only inline data: URLs are allowed, so remove it from the template.",
            url=exc.url,
        ) from None
    if fetcher.refused:  # pragma: no cover - RefusedResource aborts first
        raise UnsafeResourceError(f"the report tried to load {fetcher.refused[0]!r}; only data: URLs are allowed.")
    assert isinstance(pdf, bytes)
    return pdf


def atomic_write(path: Path, payload: bytes) -> None:
    """Write via a temporary file in the same directory and rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_pdf(
    model: ReportModel,
    out_path: str | os.PathLike[str],
    *,
    attachments: Mapping[str, bytes] | None = None,
    settings: ReportSettings | None = None,
) -> Path:
    """Render ``model`` to a PDF/A-3b file at ``out_path`` with ``attachments`` embedded."""
    path = Path(out_path)
    atomic_write(path, render_pdf_bytes(model, attachments=attachments, settings=settings))
    return path


def render_pdf_bytes(
    model: ReportModel,
    *,
    attachments: Mapping[str, bytes] | None = None,
    settings: ReportSettings | None = None,
) -> bytes:
    """The PDF/A-3b of ``model`` as bytes (to hash it before it is written, as a release record does)."""
    model.extra["attachment_names"] = sorted(attachments or {})
    html = render_html(model, settings)
    return write_pdf_bytes(html, _stylesheet(settings), attachments=attachments, created=model.generated_at)
