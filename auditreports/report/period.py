"""Kept for imports written before periods moved to the neutral :mod:`auditreports.period`."""

from ..period import Period, add_one_month, gdpr_deadline, parse_date, parse_period

__all__ = ["Period", "add_one_month", "gdpr_deadline", "parse_date", "parse_period"]
