"""``auditreports lab``: open JupyterLab on the project's notebooks with the project's kernel.

The command *becomes* JupyterLab (``os.execvp``): there is no parent process left to
swallow Ctrl-C or SIGTERM, so stopping ``auditreports lab`` stops the server itself.
JupyterLab is the ``[lab]`` extra; without it the command says which extra to install.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from ..errors import DependencyError
from ..notebook import notebooks_dir
from ..progress import say

HELP = "Open JupyterLab on the report and explore notebooks, with this environment's kernel."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--token", help="the lab's login token (default: a random one, printed in the URL)")


def lab_command(args: argparse.Namespace) -> list[str]:
    """The JupyterLab command line ``auditreports lab`` replaces itself with."""
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--notebook-dir={notebooks_dir()}",
        f"--ServerApp.port={args.port}",
        f"--ServerApp.ip={args.ip}",
    ]
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI often run as root; Jupyter refuses without it
    if args.token:
        cmd.append(f"--IdentityProvider.token={args.token}")
    return cmd


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        raise DependencyError(
            "JupyterLab is not installed: it is the [lab] extra; install it with "
            "`pip install 'auditreports[lab]'` (from a clone: `pip install -e '.[lab]'`)"
        )
    cmd = lab_command(args)
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    say(f"[auditreports] lab: starting JupyterLab on {notebooks_dir()} (http://{args.ip}:{args.port}/lab)")
    sys.stdout.flush()
    sys.stderr.flush()
    # The notebooks' kernel is "python3", which jupyter_client resolves to this interpreter.
    os.execv(sys.executable, cmd)  # never returns; the server is this process from here on
    return 0  # pragma: no cover
