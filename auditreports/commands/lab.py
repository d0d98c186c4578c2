"""``auditreports lab``: open JupyterLab on the project's notebooks with the project's kernel."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from ..notebook import notebooks_dir

HELP = "Open JupyterLab on the report and explore notebooks, with this environment's kernel."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--token", help="the lab's login token (default: a random one, printed in the URL)")


def run(args: argparse.Namespace) -> int:
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
    env = dict(os.environ)
    env.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    # The notebooks' kernel is "python3", which jupyter_client resolves to this interpreter.
    return subprocess.call(cmd, env=env)
