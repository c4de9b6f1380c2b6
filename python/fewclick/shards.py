"""Cut a JSONL session log into Parquet shards of whole sessions, for ``fewclick.ray_train``:

    python -m fewclick.shards sessions.jsonl out/shards --sessions-per-shard 10000

Reads the log a line at a time and writes ``part-00000.parquet``, ``part-00001.parquet``, … (the
Parquet format's columns, ``items`` and ``prices`` as lists), each with at most that many sessions,
so memory holds one shard. A session's rows must be together in the file (as ``fewclick simulate``
writes them); a session that comes back after another started is an error naming the line. Needs
pyarrow.
"""

import argparse
import json
import os
import sys

COLUMNS = ["session", "user", "timestamp", "type", "item", "items", "prices", "clicked", "click_type", "dwell_ms"]


def _schema():
    import pyarrow as pa

    return pa.schema([
        ("session", pa.string()), ("user", pa.string()), ("timestamp", pa.float64()), ("type", pa.string()),
        ("item", pa.string()), ("items", pa.list_(pa.string())), ("prices", pa.list_(pa.float64())),
        ("clicked", pa.string()), ("click_type", pa.string()), ("dwell_ms", pa.float64()),
    ])


def write_shards(jsonl, directory, sessions_per_shard, row_group_rows=50_000):
    """Writes the shards; returns their paths in order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if sessions_per_shard < 1:
        raise ValueError("sessions_per_shard must be at least 1")
    os.makedirs(directory, exist_ok=True)
    schema = _schema()
    paths, rows, seen, current, in_shard = [], [], set(), None, 0

    def flush():
        if not rows:
            return
        path = os.path.join(directory, f"part-{len(paths):05d}.parquet")
        table = pa.table({c: [r.get(c) for r in rows] for c in COLUMNS}, schema=schema)
        pq.write_table(table, path, row_group_size=row_group_rows)
        paths.append(path)
        rows.clear()

    with open(jsonl) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            session = row.get("session")
            if session != current:
                if session in seen:
                    raise ValueError(f"{jsonl}:{line_no}: session {session!r} comes back after other sessions")
                seen.add(session)
                current = session
                if in_shard == sessions_per_shard:
                    flush()
                    in_shard = 0
                in_shard += 1
            rows.append(row)
    flush()
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fewclick.shards", description=__doc__.split("\n\n")[0])
    ap.add_argument("jsonl")
    ap.add_argument("directory")
    ap.add_argument("--sessions-per-shard", type=int, default=10_000)
    args = ap.parse_args(argv)
    try:
        paths = write_shards(args.jsonl, args.directory, args.sessions_per_shard)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} shards to {args.directory}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
