"""``auditreports serve-sample-api``: serve a folder of conversation-log exports as the audit-log API."""

from __future__ import annotations

import argparse
import os
import sys

from ..api._token import TOKEN_ENV, Token, load_token
from ..api.server import SampleLog, ServerFaults, generate_token, serve_forever
from ..api.vendor_server import VENDOR_STYLES, VendorLog, serve_vendor_forever
from ..errors import UsageError

HELP = (
    "serve conversation-log exports (or Okta / GitHub records) through an audit-log API on loopback, "
    "with faults to inject (for testing fetch)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory",
        metavar="DIR",
        help="folder of conversation-log exports (JSON array / NDJSON, .gz or plain); with --style okta|github "
        "a file or folder of that vendor's records",
    )
    parser.add_argument(
        "--style",
        choices=("conversation", *VENDOR_STYLES),
        default="conversation",
        help="which API to imitate: conversation (GET /v1/audit-log, default), okta (GET /api/v1/logs), "
        "github (GET /orgs/acme/audit-log)",
    )
    parser.add_argument(
        "--auth-scheme", metavar="SCHEME", help="Authorization scheme to require (default Bearer; okta: SSWS)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument(
        "--token-file", metavar="F", help=f"file holding the token to require (default: {TOKEN_ENV}, else a new one)"
    )
    parser.add_argument("--link-headers", action="store_true", help='also send Link: <...>; rel="next" headers')
    faults = parser.add_argument_group("fault injection (deterministic from --fault-seed)")
    faults.add_argument("--fault-seed", type=int, default=0, metavar="N", help="seed of every fault decision")
    faults.add_argument("--fault-429", type=float, default=0.0, metavar="RATE", help="share of requests answered 429")
    faults.add_argument("--fault-503-burst", type=int, default=0, metavar="N", help="answer requests 2..N+1 with 503")
    faults.add_argument("--retry-after", type=int, default=1, metavar="S", help="seconds announced in Retry-After")
    faults.add_argument("--slow-ms", type=int, default=0, metavar="N", help="delay every response by N ms")
    faults.add_argument(
        "--duplicate-boundary",
        nargs="?",
        type=int,
        const=2,
        default=0,
        metavar="N",
        help="repeat the last N (default 2) events of a page at the start of the next",
    )
    faults.add_argument(
        "--drop-connection", type=float, default=0.0, metavar="RATE", help="share of pages cut off mid-body"
    )
    faults.add_argument("--bad-json-page", type=int, default=None, metavar="N", help="page N is not valid JSON")
    faults.add_argument(
        "--loop-cursor-page", type=int, default=None, metavar="N", help="page N repeats the previous cursor (a loop)"
    )


def run(args: argparse.Namespace) -> int:
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"[auditreports] warning: binding {args.host}, not loopback; anyone who can reach it needs only the token",
            file=sys.stderr,
        )
    if args.token_file:
        token = load_token({"AUDITREPORTS_TOKEN_FILE": args.token_file})
    else:
        try:
            token = load_token({TOKEN_ENV: os.environ.get(TOKEN_ENV, "")})
        except UsageError:
            token = Token(generate_token())
            print(f"[auditreports] no {TOKEN_ENV} set; this server's token: {token.reveal()}", file=sys.stderr)
    faults = ServerFaults(
        seed=args.fault_seed,
        rate_429=args.fault_429,
        burst_503=args.fault_503_burst,
        slow_ms=args.slow_ms,
        duplicate_boundary=args.duplicate_boundary,
        drop_connection=args.drop_connection,
        bad_json_page=args.bad_json_page,
        loop_cursor_page=args.loop_cursor_page,
        retry_after=args.retry_after,
    )

    if args.style != "conversation":

        def vendor_ready(url: str, log: VendorLog, scheme: str) -> None:
            print(
                f"[auditreports] serving {len(log.records)} {args.style} records at {url} "
                f"(Authorization: {scheme} <token>; Link pagination)"
                + (f"; {log.skipped_lines} line(s) that are not JSON were skipped" if log.skipped_lines else ""),
                file=sys.stderr,
            )
            print("[auditreports] press Ctrl-C to stop", file=sys.stderr, flush=True)

        serve_vendor_forever(
            args.directory,
            style=args.style,
            token=token.reveal(),
            auth_scheme=args.auth_scheme,
            host=args.host,
            port=args.port,
            faults=faults,
            on_ready=vendor_ready,
        )
        return 0
    if args.auth_scheme not in (None, "Bearer"):
        raise UsageError("the conversation API takes Bearer tokens only; --auth-scheme is for --style okta|github")

    def ready(url: str, log: SampleLog) -> None:
        notes = f" ({'; '.join(log.notes)})" if log.notes else ""
        print(
            f"[auditreports] serving {len(log.records)} events from {log.files} files at {url}{notes}", file=sys.stderr
        )
        print("[auditreports] press Ctrl-C to stop", file=sys.stderr, flush=True)

    serve_forever(
        args.directory,
        token=token.reveal(),
        host=args.host,
        port=args.port,
        faults=faults,
        link_headers=args.link_headers,
        on_ready=ready,
    )
    return 0
