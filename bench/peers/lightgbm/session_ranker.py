#!/usr/bin/env python3
"""LightGBM lambdarank on the trivago slice: which in-session signals a tuned tree ranker uses.

A peer evaluation outside the package, not a test: CI does not run it (run it with
`bash scripts/bench-lightgbm.sh`, which installs the pinned LightGBM into bench/peers/lightgbm/.venv).
It reads the real sessions only from ../shared/data (the trivago slice beside the repository; see
its README.md) and writes nothing: the table goes to stdout, progress to stderr.

What it measures: for every clickout list whose clicked item is displayed, the rank of the clicked
item when the list is ordered by each ranker, as the mean reciprocal rank (MRR) over the test
lists. Sessions are split by start time: the first --split of them train (the last 10 % of those,
by start time, are the early-stopping validation part), the rest are the test part. Each feature set
trains one LightGBM lambdarank model (early stopping on MAP@25, which with one clicked item in a
list of at most 25 is its MRR). The table gives the test MRR overall, by the number of item
interactions earlier in the session (ev0 ... ev6+) and by the kind of the last one (none, clickout,
image, info, deals, rating, search for item), and the difference from the first set with a 95 %
interval from a paired bootstrap over test sessions (1,000 resamples).

The rows:
  display  the list's own order
  rule     items the shopper interacted with earlier in the session first (most recent first),
           then display order
  A        the session and list features of fewclick's model: position, list length, price and
           its rank, log-price against the list's median and minimum and the engaged items' mean,
           the candidate's interaction count, recency (distinct items since), seconds since,
           impressions so far and whether it was the last one touched, the session's event count
           and times, the offset from the last touched item's and the previous click's position,
           whether the list repeats the previous one, the last interaction's coarse kind
  B        A + the fine interaction kinds: counts per kind (clickout, image, info, deals, rating,
           search for item) for the candidate, the last interaction's kind, the candidate's last kind
  C        B + non-item context: filter selections, sort changes and destination / POI searches
           since the last clickout, the active sort order, the number of filters, platform, device,
           seconds since the previous row of any kind
  D        C + global item statistics: clicks, impressions and a smoothed click-through rate of the
           item over the training sessions (out of fold, 5 folds, for the training rows)
"""

import argparse
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SESSIONS = ROOT / ".." / "shared" / "data" / "trivago" / "sessions.csv"

CLICKOUT = "clickout item"
FINE = {
    "clickout item": 1,
    "interaction item image": 2,
    "interaction item info": 3,
    "interaction item deals": 4,
    "interaction item rating": 5,
    "search for item": 6,
}
FINE_NAMES = ["none", "clickout", "image", "info", "deals", "rating", "search for item"]
NONITEM = ["filter selection", "change of sort order", "search for destination", "search for poi"]
SORT_TOKENS = [
    "Sort by Price",
    "Sort By Distance",
    "Sort By Rating",
    "Sort By Popularity",
    "Best Value",
    "Focus on Rating",
    "Focus on Distance",
]
NAN = float("nan")

VAL_FRACTION = 0.1  # of the training sessions, the latest by start time: early stopping
FOLDS = 5  # out-of-fold item statistics for the training rows
CTR_PRIOR = 20.0  # pseudo-impressions at the global click-through rate
MAX_ROUNDS = 2000
EARLY_STOP = 100
RESAMPLES = 1000

SET_A = [
    "pos", "list_len", "price", "price_rank", "lp_med", "lp_min", "lp_eng", "c_n_ev", "c_is_last",
    "c_recency", "c_secs_since", "c_impr", "s_n_ev", "s_secs_prev", "s_secs_first", "off_last",
    "same_prev_list", "off_prev_click", "last_coarse", "last_on_cand",
]
SET_B = SET_A + [
    "c_n_click", "c_n_image", "c_n_info", "c_n_deals", "c_n_rating", "c_n_search", "last_fine",
    "c_last_kind",
]
SET_C = SET_B + [
    "n_filter_sel", "n_sort_change", "n_search_dest", "n_search_poi", "sort_kind", "has_sort",
    "n_filters", "platform", "device", "s_secs_prev_any",
]
SET_D = SET_C + ["g_clicks", "g_impr", "g_ctr"]
SETS = {"A": SET_A, "B": SET_B, "C": SET_C, "D": SET_D}
CATEGORICAL = ["last_coarse", "last_fine", "c_last_kind", "sort_kind", "platform", "device"]

EVENT_BUCKETS = ["0", "1", "2", "3-5", "6+"]
GAIN_LINES = [("C", 15), ("A", 10), ("D", 10)]  # (set, how many features) printed under the table


def parse_args():
    """The command line: --sessions, --seed, --split, --sets."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=Path, default=DEFAULT_SESSIONS, help="the trivago sessions.csv")
    ap.add_argument("--seed", type=int, default=1, help="LightGBM's seed and the bootstrap's")
    ap.add_argument("--split", type=float, default=0.8, help="training fraction of sessions by start time")
    ap.add_argument("--sets", default="A,B,C,D", help="feature sets to train, the first is the reference")
    args = ap.parse_args()
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in args.sets if s not in SETS]
    if not args.sets or unknown:
        ap.error(f"--sets: expected a comma-separated subset of {','.join(SETS)}, got {unknown or 'none'}")
    if not 0.0 < args.split < 1.0:
        ap.error(f"--split: expected a fraction between 0 and 1, got {args.split}")
    return args


def log(x):
    """Natural log of a positive number; NaN otherwise."""
    return math.log(x) if x > 0 else NAN


def load_events(path):
    """The sessions' rows, in session order, then step, then file order."""
    d = pd.read_csv(path, dtype=str, keep_default_na=False)
    d["line"] = np.arange(len(d))
    d["ts"] = d.timestamp.astype(float)
    d["st"] = d.step.astype(int)
    return d.sort_values(["session_id", "st", "line"], kind="stable")


def split_sessions(d, split):
    """Each session's part (fit, val, test) by start time, the training sessions in that order."""
    start = d.groupby("session_id").ts.min().reset_index()
    start = start.sort_values(["ts", "session_id"], kind="stable")
    order = start.session_id.tolist()
    n_train = int(round(split * len(order)))
    n_fit = int(round((1.0 - VAL_FRACTION) * n_train))
    part = {}
    for i, s in enumerate(order):
        if i < n_fit:
            part[s] = "fit"
        elif i < n_train:
            part[s] = "val"
        else:
            part[s] = "test"
    return part, order[:n_train]


class SessionState:
    """What a session has shown and done before the current row."""

    def __init__(self):
        self.item_events = []  # (item, fine kind, ts) of every item interaction
        self.counts = defaultdict(lambda: np.zeros(7))  # item -> interactions per fine kind (1..6)
        self.last_idx = {}  # item -> index in item_events of its last interaction
        self.last_ts = {}
        self.last_kind = {}
        self.impressions = defaultdict(int)
        self.price_seen = {}
        self.prev_list = None
        self.prev_click = None
        self.nonitem = defaultdict(int)  # non-item actions since the last clickout
        self.first_ts = None
        self.prev_row_ts = None


def sort_kind(filters):
    """1 + the index in SORT_TOKENS of the first sort order among the active filters; 0 if none."""
    active = filters.split("|")
    for k, token in enumerate(SORT_TOKENS):
        if token in active:
            return k + 1
    return 0


def list_context(state, items, prices, filters):
    """The features shared by every candidate of one clickout list."""
    sp = sorted(prices)
    engaged = list(dict.fromkeys(e[0] for e in state.item_events))
    engaged_lp = [log(state.price_seen[e]) for e in engaged if e in state.price_seen]
    last = state.item_events[-1] if state.item_events else None
    last_item = last[0] if last else None
    last_fine = last[1] if last else 0
    prev = state.prev_list
    clicked_before = prev is not None and state.prev_click in prev
    return dict(
        lp=[log(p) for p in prices],
        price_rank={p: i for i, p in reversed(list(enumerate(sp)))},  # the lowest rank of a tie
        log_median=log(float(np.median(prices))),
        log_min=log(sp[0]),
        mean_engaged_lp=float(np.mean(engaged_lp)) if engaged_lp else NAN,
        last=last,
        last_item=last_item,
        last_fine=last_fine,
        last_coarse=0 if last is None else (1 if last_fine == 1 else 2),
        pos_last=items.index(last_item) if last_item in items else None,
        same_prev=float(prev == items) if prev is not None else 0.0,
        prev_click_pos=prev.index(state.prev_click) if clicked_before else None,
        sort_kind=sort_kind(filters),
        n_filters=len(filters.split("|")) if filters else 0,
    )


def rule_rank(state, items, clicked):
    """The clicked item's rank when engaged items come first (most recent first), then display order."""
    keys = []
    for i, it in enumerate(items):
        li = state.last_idx.get(it)
        keys.append((0, -li) if li is not None else (1, i))
    order = sorted(range(len(items)), key=lambda i: keys[i])
    return order.index(items.index(clicked)) + 1


def features_a(state, ctx, i, it, prices, t):
    """Set A for candidate `it` at position i."""
    li = state.last_idx.get(it)
    counts = state.counts[it] if it in state.counts else np.zeros(7)
    recency = len(set(e[0] for e in state.item_events[li + 1 :])) if li is not None else NAN
    last = ctx["last"]
    prev = state.prev_list
    prev_click_pos = ctx["prev_click_pos"]
    in_prev = prev_click_pos is not None and it in prev
    return dict(
        pos=i,
        list_len=len(prices),
        price=prices[i],
        price_rank=ctx["price_rank"][prices[i]] if prices[i] == prices[i] else NAN,
        lp_med=ctx["lp"][i] - ctx["log_median"],
        lp_min=ctx["lp"][i] - ctx["log_min"],
        lp_eng=ctx["lp"][i] - ctx["mean_engaged_lp"],
        c_n_ev=float(counts.sum()),
        c_is_last=float(it == ctx["last_item"]),
        c_recency=recency,
        c_secs_since=(t - state.last_ts[it]) if it in state.last_ts else NAN,
        c_impr=state.impressions[it],
        s_n_ev=len(state.item_events),
        s_secs_prev=(t - last[2]) if last else NAN,
        s_secs_first=(t - state.first_ts) if state.first_ts is not None else 0.0,
        off_last=(i - ctx["pos_last"]) if ctx["pos_last"] is not None else NAN,
        same_prev_list=ctx["same_prev"],
        off_prev_click=(prev.index(it) - prev_click_pos) if in_prev else NAN,
        last_coarse=ctx["last_coarse"],
        last_on_cand=float(ctx["last_item"] == it),
    )


def features_b(state, ctx, it):
    """Set B's additions for candidate `it`: the fine interaction kinds."""
    counts = state.counts[it] if it in state.counts else np.zeros(7)
    return dict(
        c_n_click=counts[1],
        c_n_image=counts[2],
        c_n_info=counts[3],
        c_n_deals=counts[4],
        c_n_rating=counts[5],
        c_n_search=counts[6],
        last_fine=ctx["last_fine"],
        c_last_kind=state.last_kind.get(it, 0),
    )


def features_c(state, ctx, platform, device, t):
    """Set C's additions: non-item context, the same for every candidate of a list."""
    return dict(
        n_filter_sel=state.nonitem["filter selection"],
        n_sort_change=state.nonitem["change of sort order"],
        n_search_dest=state.nonitem["search for destination"],
        n_search_poi=state.nonitem["search for poi"],
        sort_kind=ctx["sort_kind"],
        has_sort=float(ctx["sort_kind"] > 0),
        n_filters=ctx["n_filters"],
        platform=platform,
        device=device,
        s_secs_prev_any=(t - state.prev_row_ts) if state.prev_row_ts is not None else NAN,
    )


def add_list(state, ev, part, rows, queries):
    """One query and its candidate rows for a clickout whose clicked item is in the list."""
    items = ev["items"]
    prices = ev["prices"]
    clicked = ev["ref"]
    ctx = list_context(state, items, prices, ev["filters"])
    qid = len(queries)
    queries.append(
        dict(
            sid=ev["sid"],
            part=part,
            n_ev=len(state.item_events),
            last_fine=ctx["last_fine"],
            L=len(items),
            click_pos=items.index(clicked),
            rule_rank=rule_rank(state, items, clicked),
            qid=qid,
        )
    )
    for i, it in enumerate(items):
        row = dict(qid=qid, label=int(it == clicked), item=it)
        row.update(features_a(state, ctx, i, it, prices, ev["ts"]))
        row.update(features_b(state, ctx, it))
        row.update(features_c(state, ctx, ev["platform"], ev["device"], ev["ts"]))
        rows.append(row)


def record_event(state, action, ref, ts):
    """Updates the session state with one row, after any list it showed has been featurised."""
    engaged = action in FINE and ref.isdigit()
    if engaged:
        kind = FINE[action]
        state.counts[ref][kind] += 1
        state.last_idx[ref] = len(state.item_events)
        state.last_ts[ref] = ts
        state.last_kind[ref] = kind
        state.item_events.append((ref, kind, ts))
    elif action in NONITEM:
        state.nonitem[action] += 1
    if state.first_ts is None and (engaged or action == CLICKOUT):
        state.first_ts = ts
    state.prev_row_ts = ts


def featurise_session(sid, g, part, rows, queries):
    """Appends one session's queries and candidate rows, each list seeing only the rows before it."""
    state = SessionState()
    platform = g.platform.iloc[0]
    device = g.device.iloc[0]
    columns = zip(g.action_type, g.reference, g.ts, g.impressions, g.prices, g.current_filters)
    for action, ref, ts, impressions, prices, filters in columns:
        if action == CLICKOUT:
            items = impressions.split("|")
            price_list = [float(p) for p in prices.split("|")] if prices else [NAN] * len(items)
            for it, p in zip(items, price_list):
                state.price_seen[it] = p
            if ref in items:
                ev = dict(sid=sid, ref=ref, ts=ts, items=items, prices=price_list, filters=filters,
                          platform=platform, device=device)
                add_list(state, ev, part, rows, queries)
            for it in items:
                state.impressions[it] += 1
            state.prev_list = items
            state.prev_click = ref
            state.nonitem.clear()
        record_event(state, action, ref, ts)


def featurise(d, part):
    """Candidate rows X (one per displayed item) and queries Q (one per list) of every session."""
    rows = []
    queries = []
    for sid, g in d.groupby("session_id", sort=False):
        featurise_session(sid, g, part[sid], rows, queries)
    X = pd.DataFrame(rows)
    Q = pd.DataFrame(queries)
    X["part"] = Q.part.values[X.qid.values]
    X["sid"] = Q.sid.values[X.qid.values]
    for c in ["platform", "device"]:
        X[c] = pd.Categorical(X[c]).codes.astype(int)
    return X, Q


def item_stats(clickouts, sessions):
    """Clicks and impressions per item over the clickouts of the given sessions."""
    c = clickouts[clickouts.session_id.isin(set(sessions))]
    clicks = c.reference.value_counts()
    impressions = c.impressions.str.split("|").explode().value_counts()
    return clicks, impressions


def add_item_stats(X, d, train_sessions):
    """Set D's columns: out of fold for the training rows (scaled to the full training set), over all
    training sessions for the test rows, with a smoothed click-through rate."""
    clickouts = d[d.action_type == CLICKOUT]
    fold_of = {s: i % FOLDS for i, s in enumerate(train_sessions)}  # interleaved in time
    X["g_clicks"] = 0.0
    X["g_impr"] = 0.0
    training = X.part != "test"
    fold = X.sid.map(fold_of)
    scale = FOLDS / (FOLDS - 1)
    for f in range(FOLDS):
        clicks, impressions = item_stats(clickouts, [s for s in train_sessions if fold_of[s] != f])
        m = training & (fold == f)
        X.loc[m, "g_clicks"] = X.loc[m, "item"].map(clicks).fillna(0).values * scale
        X.loc[m, "g_impr"] = X.loc[m, "item"].map(impressions).fillna(0).values * scale
    clicks, impressions = item_stats(clickouts, train_sessions)
    m = ~training
    X.loc[m, "g_clicks"] = X.loc[m, "item"].map(clicks).fillna(0).values
    X.loc[m, "g_impr"] = X.loc[m, "item"].map(impressions).fillna(0).values
    prior = clicks.sum() / impressions.sum()
    X["g_ctr"] = (X.g_clicks + CTR_PRIOR * prior) / (X.g_impr + CTR_PRIOR)


def lgb_params(seed):
    """LightGBM's settings (one set for every feature set)."""
    return dict(objective="lambdarank", metric="map", eval_at=[25], learning_rate=0.05, num_leaves=31,
                min_data_in_leaf=20, feature_fraction=0.9, bagging_fraction=1.0, lambda_l2=1.0,
                num_threads=2, seed=seed, deterministic=True, force_col_wise=True, verbose=-1)


def dataset(X, part, feats, reference=None):
    """The LightGBM dataset of one part's rows, grouped by list."""
    sub = X[X.part == part]
    groups = sub.groupby("qid", sort=False).size().values
    cats = [c for c in feats if c in CATEGORICAL]
    return lgb.Dataset(sub[feats], sub.label, group=groups, categorical_feature=cats, reference=reference,
                       free_raw_data=False)


def clicked_ranks(sub, score):
    """The clicked item's rank per list when ordered by score (ties: display order)."""
    s = sub[["qid", "pos", "label"]].copy()
    s["score"] = score
    s = s.sort_values(["qid", "score", "pos"], ascending=[True, False, True], kind="stable")
    s["rank"] = s.groupby("qid").cumcount() + 1
    return s[s.label == 1].set_index("qid")["rank"]


def train_set(X, feats, seed, test_qids):
    """Trains one feature set with early stopping; its best iteration, validation MAP@25, test
    reciprocal ranks (by test_qids) and features by gain."""
    dfit = dataset(X, "fit", feats)
    dval = dataset(X, "val", feats, dfit)
    bst = lgb.train(lgb_params(seed), dfit, num_boost_round=MAX_ROUNDS, valid_sets=[dval],
                    callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)])
    test = X[X.part == "test"]
    score = bst.predict(test[feats], num_iteration=bst.best_iteration)
    rr = 1.0 / clicked_ranks(test, score).reindex(test_qids)
    gains = sorted(zip(feats, bst.feature_importance("gain")), key=lambda x: -x[1])
    return bst.best_iteration, bst.best_score["valid_0"]["map@25"], rr, gains


def bootstrap_intervals(Qt, RR, ref, seed):
    """Each ranker's MRR minus the reference's and a 95 % interval, resampling test sessions (paired:
    the same resamples for every ranker; a resample's MRR is over the lists of its sessions)."""
    rng = np.random.default_rng(seed)
    sessions, inv = np.unique(Qt.sid.values, return_inverse=True)
    lists_per_session = np.bincount(inv)
    draws = rng.integers(0, len(sessions), size=(RESAMPLES, len(sessions)))
    weights = np.apply_along_axis(lambda r: np.bincount(r, minlength=len(sessions)), 1, draws)
    lists = weights @ lists_per_session

    def per_session(rr):
        return np.bincount(inv, weights=rr.values, minlength=len(sessions))

    base = per_session(RR[ref])
    ci = {}
    for k, rr in RR.items():
        diff = (weights @ (per_session(rr) - base)) / lists
        ci[k] = (rr.mean() - RR[ref].mean(), np.percentile(diff, 2.5), np.percentile(diff, 97.5))
    return ci


def event_bucket(n):
    """The bucket of a list's earlier item interactions: 0, 1, 2, 3-5, 6+."""
    if n <= 2:
        return str(n)
    return "3-5" if n <= 5 else "6+"


def print_table(Q, Qt, RR, ci, ref, best, gains):
    """The results table and the lines under it, on stdout."""
    evb = Qt.n_ev.map(event_bucket)
    lastk = Qt.last_fine.map(lambda k: FINE_NAMES[k])
    fit_lists = int((Q.part == "fit").sum())
    val_lists = int((Q.part == "val").sum())
    print(f"test: {len(Qt)} lists, {Qt.sid.nunique()} sessions; fit {fit_lists} / val {val_lists} lists")
    print("best iter / val MRR: " + ", ".join(f"{k}:{it}/{v:.3f}" for k, (it, v) in best.items()))
    head = f"{'set':8s} {'MRR':>6s} " + " ".join(f"{'ev' + b:>6s}" for b in EVENT_BUCKETS)
    head += "  " + " ".join(f"{b[:6]:>6s}" for b in FINE_NAMES) + f"   d vs {ref} [95% CI]"
    print(head)
    counts = f"{'n':8s} {len(Qt):6d} " + " ".join(f"{(evb == b).sum():6d}" for b in EVENT_BUCKETS)
    print(counts + "  " + " ".join(f"{(lastk == b).sum():6d}" for b in FINE_NAMES))
    for k, rr in RR.items():
        line = f"{k:8s} {rr.mean():6.3f} " + " ".join(f"{rr[evb == b].mean():6.3f}" for b in EVENT_BUCKETS)
        line += "  " + " ".join(f"{rr[lastk == b].mean():6.3f}" for b in FINE_NAMES)
        print(line + f"   {ci[k][0]:+.3f} [{ci[k][1]:+.3f},{ci[k][2]:+.3f}]")
    for k, top in GAIN_LINES:
        if k in gains:
            print(f"top {top} gain, set {k}: " + ", ".join(f"{f}={g:.0f}" for f, g in gains[k][:top]))
    display = np.mean(1 / (Q.click_pos + 1))
    rule = np.mean(1 / Q.rule_rank)
    print(f"all-lists display MRR {display:.3f}, rule {rule:.3f}")


def main():
    """Featurises the sessions, trains each set, prints the table."""
    args = parse_args()
    path = args.sessions.resolve()
    print(f"seed {args.seed}; sessions {path}; training fraction {args.split}; sets {','.join(args.sets)}")
    sys.stdout.flush()
    if not path.is_file():
        print(f"error: {path} not found. The trivago slice lives beside the repository in "
              f"../shared/data/trivago/sessions.csv; pass its path with --sessions PATH.", file=sys.stderr)
        sys.exit(2)
    t0 = time.time()
    d = load_events(path)
    part, train_sessions = split_sessions(d, args.split)
    X, Q = featurise(d, part)
    print(f"queries {Q.part.value_counts().to_dict()}, candidate rows {len(X)}", file=sys.stderr)
    add_item_stats(X, d, train_sessions)
    Qt = Q[Q.part == "test"].set_index("qid")
    RR = {"display": 1.0 / (Qt.click_pos + 1), "rule": 1.0 / Qt.rule_rank}
    best = {}
    gains = {}
    for name in args.sets:
        it, val, RR[name], gains[name] = train_set(X, SETS[name], args.seed, Qt.index)
        best[name] = (it, val)
        mrr = RR[name].mean()
        print(f"{name}: best iteration {it}, val MAP@25 {val:.4f}, test MRR {mrr:.4f}", file=sys.stderr)
    ci = bootstrap_intervals(Qt, RR, args.sets[0], args.seed)
    print_table(Q, Qt, RR, ci, args.sets[0], best, gains)
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
