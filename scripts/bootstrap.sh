#!/usr/bin/env bash
# Set up everything auditreports needs on a fresh Debian/Ubuntu machine:
# system packages (as root, through apt-get), a virtualenv in .venv, the package
# and its dev tools. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

# --- system packages -------------------------------------------------------
# WeasyPrint needs Pango; Plotly's kaleido exports charts through Chromium;
# pdftoppm (poppler-utils) turns reports into PNG for review; fonts for PDFs.
# Names and notes come from anywhere in the world: the Noto fonts are the report's
# fallbacks for scripts DejaVu lacks (fonts-noto-core: Arabic, Devanagari, Hebrew, Thai, …;
# fonts-noto-cjk: Chinese, Japanese, Korean; fonts-noto-color-emoji: emoji).
SYSTEM_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 chromium fonts-dejavu-core fonts-liberation
  fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji poppler-utils)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing system packages: ${missing[*]}"
    say "install them with: sudo apt-get install ${missing[*]}"
    say "(PDF reports need Pango and the Noto fonts; chart export needs Chromium). Continuing without them."
  fi
fi

# --- Python ----------------------------------------------------------------
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  say "auditreports needs Python >= 3.11; found: $("$PY" --version 2>&1 || echo none). Set PYTHON=/path/to/python3.11."
  exit 2
fi
if [[ ! -x .venv/bin/python ]]; then
  say "creating virtualenv .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.auditreports-installed
# constraints.txt pins every package to the version the evidence was tested with,
# so two machines (and next year's re-render) resolve the same rendering stack.
if [[ ! -f $stamp || pyproject.toml -nt $stamp || constraints.txt -nt $stamp ]]; then
  say "installing auditreports and its dependencies into .venv (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
