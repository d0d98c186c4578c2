"""Report parameters are checked before any kernel starts: one clear error per problem."""

from __future__ import annotations

import datetime as dt

import pytest

from auditreports.errors import ParameterError
from auditreports.parameters import check_parameters, declared_parameters


def _base(tmp_path, **extra):
    return {"store": str(tmp_path), "period": "2026-Q3", "out_dir": str(tmp_path / "out"), **extra}


def test_defaults_filled_and_types_converted(tmp_path):
    p = check_parameters("gdpr", _base(tmp_path, subject="cus_0001", received="2026-10-05", appendix_cap="500"))
    assert p["received"] == dt.date(2026, 10, 5)
    assert p["appendix_cap"] == 500
    assert p["staff_by_name"] is False
    assert set(p) == set(declared_parameters("gdpr"))


@pytest.mark.parametrize(
    ("kind", "given", "names"),
    [
        ("soc2", {"perod": "2026-Q3"}, "perod"),
        ("soc2", {"period": "2026-Q5"}, "period"),
        ("soc2", {"period": "Q3"}, "period"),
        ("soc2", {"period": None, "date_from": "2026-07-01"}, "period"),
        ("soc2", {"period": None, "date_from": "2026-09-01", "date_to": "2026-07-01"}, "date_from"),
        ("soc2", {"period": None, "date_from": "1 July", "date_to": "2026-07-31"}, "date_from"),
        ("soc2", {"appendix_cap": "-3"}, "appendix_cap"),
        ("soc2", {"subject": "cus_1"}, "subject"),  # a gdpr-only parameter
        ("gdpr", {"subject": "cus_1"}, "received"),
        ("gdpr", {"received": "2026-10-01"}, "subject"),
        ("hipaa", {"phi_tags": 7}, "phi_tags"),
    ],
)
def test_bad_parameter_names_the_parameter(tmp_path, kind, given, names):
    with pytest.raises(ParameterError) as err:
        check_parameters(kind, _base(tmp_path, **given))
    assert err.value.parameter == names
    assert names in err.value.message
    assert "\n" not in err.value.message


@pytest.mark.parametrize("name", ["token", "api_token", "API_KEY", "bearer", "password"])
def test_secrets_are_never_parameters(tmp_path, name):
    with pytest.raises(ParameterError, match="AUDITREPORTS_TOKEN"):
        check_parameters("soc2", _base(tmp_path, **{name: "s3cr3t"}))


def test_missing_store_directory(tmp_path):
    with pytest.raises(ParameterError, match="auditreports ingest"):
        check_parameters("soc2", _base(tmp_path, store=str(tmp_path / "nope")))


def test_a_gdpr_subject_email_not_in_the_customer_directory_is_refused_before_the_kernel(tmp_path):
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,email\ncus_1,alice@example.org\n", encoding="utf-8")
    settings = tmp_path / "s.yml"
    settings.write_text("organisation:\n  customer_directory: customers.csv\n", encoding="utf-8")
    base = _base(tmp_path, received="2026-10-05", settings_file=str(settings))
    assert check_parameters("gdpr", {**base, "subject": "ALICE@example.org"})["subject"] == "ALICE@example.org"
    with pytest.raises(ParameterError, match=r"no customer with e-mail 'bob@example\.org'"):
        check_parameters("gdpr", {**base, "subject": "bob@example.org"})
    with pytest.raises(ParameterError, match="no customer directory is set"):
        check_parameters("gdpr", {**_base(tmp_path, received="2026-10-05"), "subject": "bob@example.org"})
