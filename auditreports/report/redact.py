"""GDPR minimisation: nothing in a subject's report identifies another data subject.

Other customers' ids (``cus_…``) and every e-mail address that is not the subject's
are replaced wherever they appear in text (notes, reasons, before/after states, raw
records, resource ids), and ``subject_ids`` lists are cut down to the subject. This
runs as Polars expressions over whole columns.
"""

from __future__ import annotations

import re

import polars as pl

__all__ = ["CUSTOMER_ID_PATTERN", "EMAIL_PATTERN", "redact_frame", "redact_text_expr"]

CUSTOMER_ID_PATTERN = r"cus_[A-Za-z0-9_\-]+"
EMAIL_PATTERN = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
OTHER_SUBJECT = "[other data subject]"
OTHER_EMAIL = "[redacted e-mail]"


def redact_text_expr(expr: pl.Expr, subject_ids: list[str], subject_emails: list[str]) -> pl.Expr:
    """Other subjects' ids and all foreign e-mail addresses replaced in a String expression.

    The regex engine has no look-around, so the subject's own identifiers are first
    swapped for placeholders the patterns cannot match, everything else is replaced,
    then the subject's identifiers come back.
    """
    out = _protect_ids(expr, subject_ids).str.replace_all(CUSTOMER_ID_PATTERN, OTHER_SUBJECT, literal=False)
    out = _restore_ids(out, subject_ids)
    out = _protect_emails(out, subject_emails).str.replace_all(f"(?i){EMAIL_PATTERN}", OTHER_EMAIL)
    return _restore_emails(out, subject_emails)


def _protect_ids(expr: pl.Expr, ids: list[str]) -> pl.Expr:
    for i, value in enumerate(ids):
        expr = expr.str.replace_all(rf"{re.escape(value)}\b", f"\x00SUBJ{i}\x00")
    return expr


def _restore_ids(expr: pl.Expr, ids: list[str]) -> pl.Expr:
    for i, value in enumerate(ids):
        expr = expr.str.replace_all(f"\x00SUBJ{i}\x00", value, literal=True)
    return expr


def _protect_emails(expr: pl.Expr, emails: list[str]) -> pl.Expr:
    for i, value in enumerate(emails):
        expr = expr.str.replace_all(rf"(?i)\b{re.escape(value)}\b", f"\x00MAIL{i}\x00")
    return expr


def _restore_emails(expr: pl.Expr, emails: list[str]) -> pl.Expr:
    for i, value in enumerate(emails):
        expr = expr.str.replace_all(f"\x00MAIL{i}\x00", value, literal=True)
    return expr


def redact_frame(frame: pl.LazyFrame, subject_ids: list[str], subject_emails: list[str]) -> pl.LazyFrame:
    """Every String column redacted; ``subject_ids`` lists reduced to the subject's ids."""
    schema = frame.collect_schema()
    exprs = []
    for name, dtype in schema.items():
        if dtype == pl.String:
            exprs.append(redact_text_expr(pl.col(name), subject_ids, subject_emails).alias(name))
        elif dtype == pl.List(pl.String) and name == "subject_ids":
            exprs.append(pl.col(name).list.eval(pl.element().filter(pl.element().is_in(subject_ids))).alias(name))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)
