"""The report engine: framework files as data, the registry of report kinds, checked report blocks."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml
from test_report_model import LEDGER, VERIFICATION, make_events, make_findings

from auditreports.detect.frameworks import builtin_frameworks
from auditreports.errors import ConfigError, ParameterError, UsageError
from auditreports.parameters import check_parameters
from auditreports.period import parse_period
from auditreports.report import QueryContext, build_report, load_report, query, report_kinds, section_kind
from auditreports.report.common import ReportInputs
from auditreports.report.model import Section
from auditreports.report.render import render_html
from auditreports.report.settings import ReportSettings


def _inputs() -> ReportInputs:
    return ReportInputs(
        make_events(),
        period=parse_period("2026-Q3"),
        verification=VERIFICATION,
        findings=make_findings(),
        ledger=LEDGER,
    )


def _framework_file(directory: Path, name: str, edit=None) -> Path:
    doc = yaml.safe_load(builtin_frameworks()["soc2"].read_text(encoding="utf-8"))
    if edit:
        edit(doc)
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def test_a_copy_of_soc2_is_a_report_kind_named_by_its_file(tmp_path: Path) -> None:
    frameworks = tmp_path / "fw"
    _framework_file(frameworks, "acme")
    assert "acme" not in report_kinds()
    kinds = report_kinds([frameworks])
    assert kinds["acme"].notebook == kinds["soc2"].notebook and not kinds["acme"].shipped
    loaded = load_report("acme", frameworks_dirs=[frameworks])
    model = build_report(loaded.framework, _inputs(), ReportSettings(), spec=loaded.spec)
    shipped = build_report("soc2", _inputs(), ReportSettings())
    assert model.kind == "acme" and shipped.kind == "soc2"
    assert [s.title for s in model.sections] == [s.title for s in shipped.sections]
    assert [[t.rows for t in s.tables] for s in model.sections] == [
        [t.rows for t in s.tables] for s in shipped.sections
    ]
    # No acme.html: the generic template renders it.
    assert "User access: joiners, movers, leavers" in render_html(model, ReportSettings())


def test_a_control_map_without_report_block_is_not_a_kind_and_says_so(tmp_path: Path) -> None:
    _framework_file(tmp_path / "fw", "controls", lambda d: d.pop("report"))
    assert "controls" not in report_kinds([tmp_path / "fw"])
    with pytest.raises(UsageError, match=r"controls\.yml has no report: block, so it is a control map only"):
        load_report("controls", frameworks_dirs=[tmp_path / "fw"])


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown report kind 'acme'; known: gdpr, hipaa, soc2"):
        load_report("acme")


def test_frameworks_dirs_from_the_settings_file_reach_the_parameters(tmp_path: Path) -> None:
    _framework_file(tmp_path / "fw", "acme")
    settings = tmp_path / "settings.yml"
    settings.write_text("report:\n  frameworks_dirs: [fw]\n", encoding="utf-8")  # relative to the settings file
    base = {"store": str(tmp_path), "period": "2026-Q3"}
    assert check_parameters("acme", {**base, "settings_file": str(settings)})["kind"] == "acme"
    with pytest.raises(ParameterError, match="unknown report kind 'acme'"):
        check_parameters("acme", base)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["report"].update(colour="red"), r"report\.: unknown key\(s\) colour"),
        (lambda d: d["report"].pop("title"), r"report\.title: is required"),
        (
            lambda d: d["report"]["sections"][0]["tables"][0].update(query="no_such_query"),
            r"report\.sections\[0\]\.tables\[0\]\.query: unknown query 'no_such_query'",
        ),
        (
            lambda d: d["report"]["sections"][1].update(kind="pie"),
            r"report\.sections\[1\]\.kind: unknown section kind 'pie'",
        ),
        (
            lambda d: d["report"]["sections"][0]["tables"][0]["columns"][0].update(colour="red"),
            r"report\.sections\[0\]\.tables\[0\]\.columns\[0\]: unknown key\(s\) colour",
        ),
        (lambda d: d["report"]["sections"].append(dict(d["report"]["sections"][0])), "duplicate section key 'access'"),
        (
            lambda d: d["report"].update(findings={"rules": "some"}),
            r"report\.findings\.rules: must be all or framework",
        ),
        (
            lambda d: d["report"]["sections"][1].update(charts=["pie_chart"]),
            r"report\.sections\[1\]\.charts: chart 'pie_chart' is not in report\.charts",
        ),
        (
            lambda d: d["report"]["sections"][0]["facts"].append({"label": "x"}),
            r"report\.sections\[0\]\.facts\[5\]: must have exactly label and value",
        ),
    ],
)
def test_bad_report_block_is_one_line_naming_file_and_key(tmp_path: Path, edit, message: str) -> None:
    path = _framework_file(tmp_path / "fw", "acme", edit)
    with pytest.raises(ConfigError, match=message) as err:
        load_report(path)
    assert str(path) in err.value.message and "\n" not in err.value.message


def test_a_column_the_query_does_not_return_is_a_clear_error(tmp_path: Path) -> None:
    path = _framework_file(
        tmp_path / "fw", "acme", lambda d: d["report"]["sections"][0]["tables"][0]["columns"][0].update(field="nope")
    )
    with pytest.raises(Exception, match=r"shows field\(s\) nope that query 'access_changes' does not return"):
        build_report(path.as_posix(), _inputs())


def test_prose_is_sandboxed(tmp_path: Path) -> None:
    path = _framework_file(
        tmp_path / "fw",
        "acme",
        lambda d: d["report"]["sections"][0].update(intro="{{ settings.__class__.__init__.__globals__ }}"),
    )
    with pytest.raises(Exception, match=r"report\.sections\[access\]\.intro cannot be filled in"):
        build_report(path.as_posix(), _inputs())


def test_new_section_kind_and_query_are_one_function_each_plus_yaml(tmp_path: Path) -> None:
    """How #20-style content (an executive summary) is added: a section kind, a query, YAML, a partial."""

    @query("test_engine_exports_by_actor")
    def exports_by_actor(ctx: QueryContext) -> pl.LazyFrame:
        return ctx.events.lazy().filter(pl.col("event_type") == "data.export").group_by("actor_id").len()

    @section_kind("test_engine_summary")
    def summary(spec, ctx: QueryContext) -> Section:
        n = ctx.rows("test_engine_exports_by_actor")
        return Section(str(spec["key"]), str(spec["title"]), facts=[("exporters", str(n))], kind="test_engine_summary")

    def add(doc):
        doc["report"]["sections"].insert(0, {"key": "brief", "kind": "test_engine_summary", "title": "In brief"})

    path = _framework_file(tmp_path / "fw", "acme", add)
    model = build_report(path.as_posix(), _inputs())
    assert model.sections[0].title == "In brief" and model.sections[0].facts == [("exporters", "1")]
    partials = tmp_path / "templates"
    partials.mkdir()
    (partials / "_section_test_engine_summary.html").write_text("<p>summary of {{ s.title }}</p>", encoding="utf-8")
    assert "summary of In brief" in render_html(model, ReportSettings(templates_dir=partials))


def test_prose_is_plain_text_that_the_report_templates_escape_once():
    """Filled-in prose (intros, facts, titles) is escaped by the autoescaping report templates."""
    from types import SimpleNamespace

    from auditreports.report.engine import prose
    from auditreports.report.render import template_environment

    hostile = '<img src=x onerror="alert(1)"> & co'
    ctx = SimpleNamespace(
        rows=len, distinct=len, total=len, count=len, settings=SimpleNamespace(phi_tags=[hostile]),
        inputs=SimpleNamespace(period="2026-Q3"), spec=None,
    )  # fmt: skip
    text = prose("Tagged {{ settings.phi_tags | join(', ') }}", ctx, "test")  # type: ignore[arg-type]
    assert text == f"Tagged {hostile}"  # plain text, not pre-escaped
    html = template_environment().from_string("<p>{{ intro }}</p>").render(intro=text)
    assert "<img" not in html and "&lt;img src=x" in html and "&amp; co" in html and "&amp;amp;" not in html
