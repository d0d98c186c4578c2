"""``auditreports keygen``: an Ed25519 key pair for signing evidence manifests."""

from __future__ import annotations

import argparse
import sys

from ..integrity import generate_keypair

HELP = "create an Ed25519 key pair for signing evidence manifests (private key written with mode 0600)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for NAME.key and NAME.pub")
    parser.add_argument("--name", default="auditreports", help="file name stem (default: auditreports)")


def run(args: argparse.Namespace) -> int:
    private, public, kid = generate_keypair(args.out, name=args.name)
    sys.stdout.write(
        f"private key: {private} (mode 0600; keep it secret, pass it to verify --sign-key)\n"
        f"public key:  {public} (give it to the auditor for verify-manifest --public-key)\n"
        f"key id:      {kid}\n"
    )
    return 0
