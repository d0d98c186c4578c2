"""Scale: events, seconds and peak RSS per stage of the whole pipeline, at 1M and 5M events.

Each stage is a child process (``python -m auditreports ...``) started by a small
wrapper whose ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` is that stage's peak RSS
alone (the largest process of the stage's tree: the report's notebook kernel counts).
Stages, in one run per size:

- ``samples``: ``auditreports samples DIR --scale S`` (S = events / 139,000; above the
  generator's cap, scale 50 or ~7M events, one ~4.9M sample whose store is then copied by
  ``benchmarks/replicate.py`` - ids, files and workspace sources suffixed per copy, so every
  copy's chain is intact - to the size asked: the ``replicate`` stage);
- ``naive ingest``: every file read at once with ``polars.read_ndjson`` / ``read_json``,
  concatenated and written as one hive-partitioned Parquet dataset (no ledger, no
  quarantine, no dedupe): what a script would do;
- ``one-batch ingest``: ``auditreports ingest --batch-mb 1000000``, i.e. every file held at
  once as ingest did before batching (issue #18's "today");
- ``ingest``: ``auditreports ingest`` with the default byte budget (batched); above the
  generator's cap, also on the sample's files copied to the size asked, ids renamed
  (``replicate.py --files``: ingest's measurement at full size; those copies' chains do not
  verify, so the stages after it run on copies of the store);
- ``verify``, ``detect``, ``report soc2`` on the batched store for the quarter.

    .venv/bin/python -m benchmarks.scale                       # 1M and 5M events
    .venv/bin/python -m benchmarks.scale --events 1000000      # one size
    .venv/bin/python -m benchmarks.scale --huge                # also 50M (a ~4.5M sample, its files and its store copied 11 times)
    .venv/bin/python -m benchmarks.scale --stages samples,ingest --keep /tmp/scale

Run it alone on the machine: two big runs at once measure each other.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EVENTS_PER_SCALE = 139_000
MAX_SCALE = 50
SEED = 20260701
STAGES = ("samples", "naive", "onebatch", "ingest", "verify", "detect", "report")
BASE_EVENTS = 4_861_118  # the --scale 35 sample that a quarter above the generator's cap is copied from
LABELS = {
    "samples": "samples (generator)",
    "naive": "naive ingest (polars, all at once)",
    "onebatch": "ingest, one batch (before #18)",
    "ingest": "ingest, batched (default budget)",
    "replicate": "copies of the store (replicate.py)",
    "replicate_files": "copies of the files (replicate.py --files)",
    "verify": "verify --store",
    "detect": "detect --store",
    "report": "report soc2 (notebook + PDF)",
}

_RUN = r"""
import json, resource, subprocess, sys, time
log = sys.argv[1]
t = time.perf_counter()
with open(log, "w") as err:
    rc = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=err).returncode
seconds = time.perf_counter() - t
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": rc, "seconds": seconds, "peak_kb": peak_kb}))
"""

_NAIVE = r"""
import sys
from pathlib import Path
import polars as pl
root, out = Path(sys.argv[1]), Path(sys.argv[2])
frames = []
for f in sorted(root.glob("**/workspace/*.ndjson.gz")):
    frames.append(pl.read_ndjson(f, infer_schema_length=None).with_columns(
        pl.col("occurred_at").str.to_datetime(time_zone="UTC").alias("ts")))
ws = pl.concat(frames, how="diagonal_relaxed")
frames = []
for f in sorted(root.glob("**/conversations/*.json.gz")):
    frames.append(pl.read_json(f, infer_schema_length=None).with_columns(
        pl.col("timestamp").str.to_datetime(time_zone="UTC").alias("ts")))
cv = pl.concat(frames, how="diagonal_relaxed")
for name, frame in (("workspace", ws), ("conversations", cv)):
    frame = frame.with_columns(pl.col("ts").dt.date().alias("event_date"))
    frame.write_parquet(out / name, partition_by="event_date")
print(ws.height + cv.height)
"""


def _stage(cmd: list[str], log: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _RUN, str(log), *cmd], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result["rc"] not in (0, 1, 3):  # 1: findings (detect), 3: integrity breaks (verify, planted in the sample)
        tail = log.read_text(encoding="utf-8", errors="replace")[-800:]
        print(f"  ! {' '.join(cmd[:6])} exited {result['rc']}: {tail}", file=sys.stderr)
    return result


def _events_in(store: Path) -> int:
    import polars as pl

    parts = sorted(store.glob("events/event_date=*/*.parquet"))
    return sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in parts)


def run_size(events: int, work: Path, stages: list[str], period: str) -> list[dict[str, object]]:
    data, store, naive, one = work / "data", work / "store", work / "naive", work / "store-onebatch"
    cli = [sys.executable, "-m", "auditreports"]
    rows: list[dict[str, object]] = []
    n_events: int | None = _events_in(store) if store.is_dir() else None

    def add(stage: str, result: dict[str, float]) -> None:
        rows.append(
            {
                "events": n_events,
                "stage": stage,
                "seconds": round(result["seconds"], 1),
                "peak_rss_gb": round(result["peak_kb"] / 1024 / 1024, 2),
                "rc": result["rc"],
            }
        )
        print(
            f"{n_events or 0:>12,}  {LABELS[stage]:<36} {result['seconds']:>8.1f} s  "
            f"{result['peak_kb'] / 1024 / 1024:>6.2f} GB" + ("" if result["rc"] == 0 else f"  (exit {result['rc']})"),
            flush=True,
        )

    # The generator tops out at scale 50 (~7M events), and samples under other seeds would each
    # start their own chain: a larger quarter is one ~5M sample's store copied (replicate.py).
    copies = -(-events // BASE_EVENTS) if events > MAX_SCALE * EVENTS_PER_SCALE else 1
    scale = round(events / copies / EVENTS_PER_SCALE, 2)
    dirs = [data]
    if "samples" in stages or not data.is_dir():
        shutil.rmtree(data, ignore_errors=True)
        cmd = [*cli, "samples", str(data), "--scale", str(scale), "--seed", str(SEED)]
        res = _stage(cmd, work / "samples.log")
        truth = data / "ground_truth.json"
        summary = json.loads(truth.read_text()) if truth.is_file() else {}
        n_events = summary.get("workspace", {}).get("events", 0) + summary.get("conversations", {}).get("events", 0)
        add("samples", res)
    src = [str(d / sub) for d in dirs for sub in ("workspace", "conversations")]
    data = dirs[0]
    if "naive" in stages:
        shutil.rmtree(naive, ignore_errors=True)
        for sub in ("workspace", "conversations"):
            (naive / sub).mkdir(parents=True)
        add("naive", _stage([sys.executable, "-c", _NAIVE, str(data), str(naive)], work / "naive.log"))
        shutil.rmtree(naive, ignore_errors=True)
    if "onebatch" in stages:
        shutil.rmtree(one, ignore_errors=True)
        add("onebatch", _stage([*cli, "ingest", *src, "--store", str(one), "--batch-mb", "1000000"], work / "one.log"))
        shutil.rmtree(one, ignore_errors=True)
    if "ingest" in stages:
        target = store if copies == 1 else work / "store-base"
        shutil.rmtree(target, ignore_errors=True)
        res = _stage([*cli, "ingest", *src, "--store", str(target)], work / "ingest.log")
        n_events = _events_in(target)
        add("ingest", res)
        if copies > 1:
            # Ingest at the full size: the sample's files copied with renamed ids (their chains do
            # not verify: renamed records keep their hashes), ingested, then put aside; the
            # stages after it run on copies of the store, whose chains are intact.
            files, ingested = work / "files", work / "store-files"
            shutil.rmtree(files, ignore_errors=True)
            shutil.rmtree(ingested, ignore_errors=True)
            cmd = [sys.executable, "-m", "benchmarks.replicate", str(data), str(files), "--copies", str(copies)]
            res = _stage([*cmd, "--files"], work / "replicate-files.log")
            n_events = None
            add("replicate_files", res)
            res = _stage([*cli, "ingest", str(files), "--store", str(ingested)], work / "ingest-files.log")
            n_events = _events_in(ingested)
            add("ingest", res)
            shutil.rmtree(files, ignore_errors=True)
            shutil.rmtree(ingested, ignore_errors=True)
            shutil.rmtree(store, ignore_errors=True)
            cmd = [sys.executable, "-m", "benchmarks.replicate", str(target), str(store), "--copies", str(copies)]
            res = _stage(cmd, work / "replicate.log")
            n_events = _events_in(store)
            add("replicate", res)
    settings = data / "settings.yml"
    extra = ["--settings", str(settings)] if settings.is_file() else []
    if "verify" in stages:
        add("verify", _stage([*cli, "verify", "--store", str(store), "--period", period], work / "verify.log"))
    if "detect" in stages:
        add("detect", _stage([*cli, "detect", "--store", str(store), "--period", period, *extra], work / "detect.log"))
    if "report" in stages:
        out = work / "soc2"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [*cli, "report", "soc2", "--store", str(store), "--period", period, "--out", str(out), *extra]
        add("report", _stage(cmd, work / "report.log"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, action="append", help="events per quarter (repeatable; default 1M and 5M)"
    )
    parser.add_argument(
        "--huge",
        action="store_true",
        help="also 50M events (a ~4.5M sample, its files and store copied 11 times: ~2 h, ~8 GB of disk)",
    )
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--keep", type=Path, help="work here and keep the data (default: a temporary directory)")
    parser.add_argument("--period", default="2026-Q3")
    parser.add_argument("--json", type=Path, help="also write the rows here as JSON")
    args = parser.parse_args(argv)
    sizes = args.events or [1_000_000, 5_000_000]
    if args.huge:
        sizes.append(50_000_000)
    stages = [s for s in args.stages.split(",") if s]
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stage(s) {sorted(unknown)}; choose from {','.join(STAGES)}")
    print(f"{'events':>12}  {'stage':<36} {'time':>10}  {'peak RSS':>9}")
    rows: list[dict[str, object]] = []
    for events in sizes:
        if args.keep:
            work = args.keep / f"{events}"
            work.mkdir(parents=True, exist_ok=True)
            rows += run_size(events, work, stages, args.period)
        else:
            with tempfile.TemporaryDirectory(prefix="auditreports-scale-") as tmp:
                rows += run_size(events, Path(tmp), stages, args.period)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
