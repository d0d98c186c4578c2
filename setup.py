"""Build hook: the package list, computed (pyproject.toml holds everything else).

``templates/`` and ``notebooks/`` stay at the top of the repository, where the
product's layout puts them; ``[tool.setuptools.package-dir]`` maps them into the wheel
as ``auditreports/templates`` and ``auditreports/notebooks``. pyproject.toml can either
*find* packages or *list* them, not both, so the list is found here and the two
mapped directories added to it.
"""

import shutil
from pathlib import Path

from setuptools import find_namespace_packages, setup

# pip builds the wheel in the source tree and setuptools copies into build/lib without
# clearing it, so a notebook or template removed from the repository would still ship.
shutil.rmtree(Path(__file__).resolve().parent / "build" / "lib", ignore_errors=True)

PACKAGES = find_namespace_packages(include=["auditreports", "auditreports.*"], exclude=["*.__pycache__"])

setup(packages=[*PACKAGES, "auditreports.templates", "auditreports.notebooks"])
