"""One module per ``auditreports`` sub-command (see ``auditreports.cli``)."""
