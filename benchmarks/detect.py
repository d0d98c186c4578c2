"""Benchmark: all detection rules over 1M generated events, beside the same detections in pandas.

Run on demand (not in the test suite)::

    .venv/bin/python benchmarks/detect.py            # 1,000,000 events
    .venv/bin/python benchmarks/detect.py --events 200000

Prints one table: per rule, the Polars engine's time (that rule alone), the naive
pandas time (groupby / rolling / apply, written the obvious way) and both finding
counts; then all rules together through ``detect`` (one ``collect_all``), which
is the number that matters (target ≤ 3 s for 1M events).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import polars as pl

from auditreports.detect import detect, load_rules
from auditreports.schema import conform

START = datetime(2026, 7, 1, tzinfo=UTC)
TYPES = {
    "integration.api.call": 0.30,
    "data.conversation.view": 0.15,
    "conversation.claimed": 0.06,
    "conversation.tag_applied": 0.05,
    "bot.knowledge.retrieved": 0.10,
    "bot.message.sent": 0.10,
    "auth.login.success": 0.05,
    "auth.login.failure": 0.02,
    "auth.logout": 0.04,
    "data.export": 0.01,
    "data.customer.delete": 0.005,
    "conversation.deleted": 0.005,
    "auth.permission.changed": 0.001,
    "config.system_prompt.update": 0.001,
    "config.knowledge_base.update": 0.002,
    "config.audit_log_settings.update": 0.0005,
    "auth.api_key.revoked": 0.0005,
    "conversation.resolved": 0.148,
}
CATEGORY = {
    "auth": "auth",
    "config": "config",
    "data": "data_access",
    "integration": "integration",
    "conversation": "conversation",
    "bot": "bot",
}


def generate(n: int, seed: int = 7) -> pl.DataFrame:
    """``n`` canonical events over a quarter: 200 staff, 20 API keys, 50,000 conversations."""
    rng = np.random.default_rng(seed)
    names = list(TYPES)
    probs = np.array(list(TYPES.values()))
    event_type = rng.choice(names, size=n, p=probs / probs.sum())
    seconds = np.sort(rng.integers(0, 92 * 86400, size=n))
    is_key = event_type == "integration.api.call"
    is_bot = np.char.startswith(event_type.astype(str), "bot.")
    actor = np.where(
        is_key,
        np.char.add("key_", rng.integers(0, 20, n).astype(str)),
        np.char.add("usr_", rng.integers(0, 200, n).astype(str)),
    )
    actor = np.where(is_bot, "bot_1", actor)
    conv = np.char.add("conv_", rng.integers(0, 50_000, n).astype(str))
    roles = np.array(['{"role":"agent"}', '{"role":"admin"}', '{"role":"member"}'])
    perm = event_type == "auth.permission.changed"
    before = np.where(perm, roles[rng.integers(0, 3, n)], "")
    after = np.where(perm, roles[rng.integers(0, 3, n)], "")
    claimed = event_type == "conversation.claimed"
    after = np.where(claimed, np.char.add(np.char.add('{"assignee":"', actor), '"}'), after)
    tagged = event_type == "conversation.tag_applied"
    after = np.where(tagged, np.where(rng.random(n) < 0.1, '{"tags":["phi"]}', '{"tags":["billing"]}'), after)
    frame = pl.DataFrame(
        {
            "event_type": event_type,
            "actor_id": actor,
            "actor_type": np.where(is_key, "api_key", np.where(is_bot, "bot", "user")),
            "ip": np.char.add("198.51.100.", rng.integers(1, 255, n).astype(str)),
            "conversation_id": np.where(np.char.startswith(event_type.astype(str), "data.export"), "", conv),
            "resource_id": np.where(perm, np.char.add("usr_", rng.integers(0, 200, n).astype(str)), ""),
            "resource_type": np.where(perm, "user", ""),
            "record_count": np.where(event_type == "data.export", rng.lognormal(4, 1.2, n).astype(np.int64), -1),
            "before": before,
            "after": after,
            "source": "benchmark",
            "raw": "{}",
        }
    )
    frame = frame.with_columns(event_id=pl.format("evt_{}", pl.int_range(pl.len()).cast(pl.String).str.zfill(8)))
    text = ["conversation_id", "resource_id", "resource_type", "before", "after"]
    frame = frame.with_columns(
        *[pl.col(c).replace("", None) for c in text],
        pl.when(pl.col("record_count") >= 0).then(pl.col("record_count")).alias("record_count"),
        timestamp=pl.lit(START, dtype=pl.Datetime("us", "UTC")) + pl.duration(seconds=pl.Series(seconds)),
        category=pl.col("event_type").str.split(".").list.first().replace_strict(CATEGORY, default="system"),
        outcome=pl.when(pl.col("event_type").str.ends_with("failure"))
        .then(pl.lit("failure"))
        .otherwise(pl.lit("success")),
        flags=pl.lit([], dtype=pl.List(pl.String)),
        subject_ids=pl.lit([], dtype=pl.List(pl.String)),
    )
    return pl.concat([conform(frame).collect(), _planted(rng)]).sort("timestamp")


def _planted(rng: np.random.Generator) -> pl.DataFrame:
    """Bursts for the windowed rules, so every engine has real work and real findings."""
    rows: list[dict[str, object]] = []

    def add(kind: str, k: int, i: int, seconds: float, **fields: object) -> None:
        rows.append({"event_id": f"plant_{kind}_{k}_{i}", "seconds": seconds, **fields})

    for k in range(50):  # brute force: 10 failures 20 s apart
        t0 = float(rng.integers(0, 90 * 86400))
        for i in range(10):
            add("bf", k, i, t0 + 20 * i, event_type="auth.login.failure", actor_id=f"usr_{k}", ip="192.0.2.66")
        add("bf", k, 10, t0 + 230, event_type="auth.login.success", actor_id=f"usr_{k}", ip="192.0.2.66")
    for k in range(20):  # spraying: 8 accounts from one address in 8 minutes
        t0 = float(rng.integers(0, 90 * 86400))
        for i in range(8):
            add(
                "sp", k, i, t0 + 60 * i, event_type="auth.login.failure", actor_id=f"usr_{100 + i}", ip=f"203.0.113.{k}"
            )
    for k in range(10):  # mass deletion: 25 deletions in 25 minutes
        t0 = float(rng.integers(0, 90 * 86400))
        for i in range(25):
            add("md", k, i, t0 + 60 * i, event_type="data.customer.delete", actor_id=f"usr_{k}")
    frame = pl.DataFrame(rows)
    return conform(
        frame.with_columns(
            timestamp=pl.lit(START, dtype=pl.Datetime("us", "UTC")) + pl.duration(seconds=pl.col("seconds")),
            category=pl.col("event_type").str.split(".").list.first().replace_strict(CATEGORY, default="system"),
            outcome=pl.when(pl.col("event_type").str.ends_with("failure"))
            .then(pl.lit("failure"))
            .otherwise(pl.lit("success")),
            actor_type=pl.lit("user"),
            source=pl.lit("benchmark"),
            raw=pl.lit("{}"),
            flags=pl.lit([], dtype=pl.List(pl.String)),
            subject_ids=pl.lit([], dtype=pl.List(pl.String)),
        ).drop("seconds")
    ).collect()


# ----------------------------------------------------------------------------- pandas, the obvious way


def pd_threshold(df: pd.DataFrame, types: list[str], key: str, window: str, n: int) -> int:
    rows = df[df.event_type.isin(types)].set_index("timestamp").sort_index()
    counts = rows.groupby(key)["event_id"].rolling(window).count()
    return int((counts >= n).groupby(level=0).apply(lambda s: (s & ~s.shift(fill_value=False)).sum()).sum())


def pd_spraying(df: pd.DataFrame) -> int:
    rows = df[df.event_type == "auth.login.failure"].sort_values("timestamp")
    hits = 0
    for _, g in rows.groupby("ip"):
        ts = g.timestamp.to_numpy()
        actors = g.actor_id.to_numpy()
        flagged = [len(set(actors[(ts > t - np.timedelta64(30, "m")) & (ts <= t)])) >= 5 for t in ts]
        hits += sum(1 for i, f in enumerate(flagged) if f and (i == 0 or not flagged[i - 1]))
    return hits


def pd_failed_then_success(df: pd.DataFrame) -> int:
    rows = df[df.event_type.isin(["auth.login.failure", "auth.login.success"])].sort_values("timestamp")
    hits = 0
    for _, g in rows.groupby("actor_id"):
        fails = g[g.event_type == "auth.login.failure"].timestamp
        for t in g[g.event_type == "auth.login.success"].timestamp:
            if ((fails > t - pd.Timedelta("30min")) & (fails <= t)).sum() >= 3:
                hits += 1
    return hits


def pd_export_spike(df: pd.DataFrame) -> int:
    rows = df[df.event_type == "data.export"].copy()
    rows["day"] = rows.timestamp.dt.floor("D")
    daily = rows.groupby(["actor_id", "day"]).record_count.sum().reset_index()
    hits = 0
    for _, g in daily.groupby("actor_id"):
        g = g.set_index("day").sort_index()
        for day, value in g.record_count.items():
            hist = g.record_count[(g.index < day) & (g.index >= day - pd.Timedelta("30D"))]
            if len(hist) >= 5:
                med = hist.median()
                mad = (hist - med).abs().median() * 1.4826
                if value >= 200 and value > med + 5 * mad:
                    hits += 1
    return hits


def pd_snooping(df: pd.DataFrame) -> int:
    claims = df[df.event_type == "conversation.claimed"].copy()
    claims["assignee"] = claims["after"].apply(lambda s: pd.io.json.ujson_loads(s)["assignee"] if s else None)
    first = claims.groupby(["conversation_id", "assignee"]).timestamp.min().rename("first").reset_index()
    known = set(df[df.event_type.str.startswith("conversation.")].conversation_id)
    views = df[(df.event_type == "data.conversation.view") & (df.actor_type == "user")]
    views = views.merge(
        first, left_on=["conversation_id", "actor_id"], right_on=["conversation_id", "assignee"], how="left"
    )
    views = views[views.conversation_id.isin(known) & ~(views["first"] <= views.timestamp + pd.Timedelta("10min"))]
    hits = 0
    for _, g in views.sort_values("timestamp").groupby("actor_id"):
        ts = g.timestamp.to_numpy()
        convs = g.conversation_id.to_numpy()
        flagged = [len(set(convs[(ts > t - np.timedelta64(1, "h")) & (ts <= t)])) >= 5 for t in ts]
        hits += sum(1 for i, f in enumerate(flagged) if f and (i == 0 or not flagged[i - 1]))
    return hits


def pd_matches(df: pd.DataFrame) -> int:
    """The match rules (exports, role changes, config, off hours, new IPs, revoked keys, PHI), row-wise apply."""
    ranks = {"member": 1, "agent": 1, "admin": 3}
    perm = df[df.event_type == "auth.permission.changed"]
    raised = perm.apply(
        lambda r: (
            ranks[pd.io.json.ujson_loads(r["after"])["role"]] > ranks[pd.io.json.ujson_loads(r["before"])["role"]]
            or r["actor_id"] == r["resource_id"]
        ),
        axis=1,
    ).sum()
    large = (df[df.event_type == "data.export"].record_count >= 1000).sum()
    config = df[df.category == "config"]
    off = (
        config[config.event_type.isin(["config.system_prompt.update", "config.knowledge_base.update"])]
        .timestamp.apply(lambda t: t.weekday() >= 5 or not 8 <= t.hour < 18)
        .sum()
    )
    keys = df[df.actor_type == "api_key"].sort_values("timestamp")
    first_seen = keys.groupby("actor_id").timestamp.transform("min")
    first_ip = keys.groupby(["actor_id", "ip"]).timestamp.transform("min")
    new_ip = ((keys.timestamp == first_ip) & (first_ip >= first_seen + pd.Timedelta("7D"))).sum()
    revoked = df[df.event_type == "auth.api_key.revoked"].groupby("resource_id").timestamp.min()
    after_revoke = df.apply(
        lambda r: r["actor_id"] in revoked.index and r["timestamp"] > revoked[r["actor_id"]], axis=1
    ).sum()
    tags = df[df.event_type == "conversation.tag_applied"]
    phi_convs = set(tags[tags["after"].str.contains('"phi"')].conversation_id)
    phi = df[(df.event_type == "bot.knowledge.retrieved") & df.conversation_id.isin(phi_convs)].shape[0]
    return int(raised + large + len(config) + off + new_ip + after_revoke + phi)


PANDAS: dict[str, Callable[[pd.DataFrame], int]] = {
    "brute_force_login": lambda df: pd_threshold(df, ["auth.login.failure"], "actor_id", "10min", 8),
    "mass_deletion": lambda df: pd_threshold(
        df, ["data.customer.delete", "conversation.deleted"], "actor_id", "1h", 20
    ),
    "password_spraying": pd_spraying,
    "failed_then_success": pd_failed_then_success,
    "export_volume_spike": pd_export_spike,
    "conversation_snooping": pd_snooping,
    "match rules (8)": pd_matches,
}
MATCH_RULES = [
    "large_export",
    "privilege_escalation",
    "off_hours_config_change",
    "config_change",
    "api_key_new_ip",
    "removed_user_activity",
    "audit_logging_change",
    "phi_bot_retrieval",
]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    gen_s, events = timed(lambda: generate(args.events))
    assert isinstance(events, pl.DataFrame)
    print(f"generated {events.height:,} events in {gen_s:.1f} s")
    detect(events.head(1000))  # warm-up: imports, rule loading
    pdf = None if args.skip_pandas else events.select(pl.exclude("flags", "subject_ids")).to_pandas()
    rows = []
    for name in PANDAS:
        rules = MATCH_RULES if name == "match rules (8)" else [name]
        pl_s, found = timed(lambda rules=rules: detect(events, rules=rules))
        assert hasattr(found, "frame")
        pd_s, pd_n = (float("nan"), "-") if pdf is None else timed(lambda name=name: PANDAS[name](pdf))
        rows.append((name, pl_s, pd_s, len(found.frame), pd_n))  # type: ignore[attr-defined]
    all_s, found_all = timed(lambda: detect(events))
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n{'rule':<{width}} {'polars s':>9} {'pandas s':>9} {'speed-up':>9} {'findings pl':>12} {'pd':>6}")
    for name, pl_s, pd_s, pl_n, pd_n in rows:
        speed = f"{pd_s / pl_s:8.0f}x" if pd_s == pd_s else "-"
        print(f"{name:<{width}} {pl_s:9.2f} {pd_s:9.2f} {speed:>9} {pl_n:12d} {pd_n!s:>6}")
    total_pd = sum(r[2] for r in rows)
    n_rules = len(load_rules())
    print(
        f"{'all ' + str(n_rules) + ' rules, one detect()':<{width}} {all_s:9.2f} {total_pd:9.2f} {total_pd / all_s:8.0f}x {len(found_all):12d}"
    )  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
