#!/usr/bin/env python3
"""Compare upstream Flowcept 1.0.3 and this project on the shared benchmark harness, in one run.

    python bench/run_compare.py [--scenarios import,b,d,e,f,g] [--quick] [--ours PY] [--upstream PY]
                                [--out DIR] [--only upstream|ours] [--harness PATH]

* Creates (once) the upstream venv at ~/.cache/flowcept-bench/upstream-1.0.3 and pip-installs
  ``flowcept[redis,lmdb]==1.0.3`` and ``pandas`` into it (skipped when --upstream is given).
* Runs the harness (shared/bench/bench_flowcept.py) per scenario, alternating sides:
  upstream scenario X, then ours scenario X, so both see similar machine load.
* Raw JSON lines go to <out>/upstream.jsonl and <out>/ours.jsonl; the comparison table is
  printed and written to <out>/table.md.

Unknown options are passed through to the harness unchanged (e.g. --keep-workdir,
--count-via redis, --d-modes offline).  Stdlib only.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
UPSTREAM_VERSION = "1.0.3"
UPSTREAM_VENV = os.path.join(os.path.expanduser("~"), ".cache", "flowcept-bench", f"upstream-{UPSTREAM_VERSION}")
UPSTREAM_PIP = [f"flowcept[redis,lmdb]=={UPSTREAM_VERSION}", "pandas"]
UPSTREAM_PIP_FALLBACK = [f"flowcept=={UPSTREAM_VERSION}", "redis", "lmdb", "pandas", "msgpack"]
UPSTREAM_CHECK = ("import flowcept, redis, lmdb, pandas, msgpack; "
                  f"assert flowcept.__version__ == {UPSTREAM_VERSION!r}, flowcept.__version__")
DEFAULT_SCENARIOS = "import,b,d,e,f,g"
ORDER = ["footprint", "import", "a", "b", "c", "d", "e", "f", "g", "h"]
SIDES = ("upstream", "ours")

# --quick: sizes passed to the harness (the harness' own --quick is smaller still)
QUICK = {"n": 20_000, "reps": 3, "g_n": 200_000}

# Metrics shown per scenario. direction: "low" = lower is better (ratio = upstream/ours),
# "high" = higher is better (ratio = ours/upstream), "count"/"flag" = correctness (no ratio, compared).
METRICS = {
    "footprint": [("prefix_mb", "low"), ("flowcept_pkg_mb", "low")],
    "import": [("import_flowcept_s", "low"), ("import_flowcept_minus_startup_s", "low"),
               ("from_flowcept_import_api_minus_startup_s", "low"),
               ("importtime.from_flowcept_import_api_importtime_minus_startup_s", "low")],
    "a": [("ns_per_call", "low")],
    "b": [("ns_overhead_per_call", "low"), ("stop_s", "low"), ("dump_buffer_s", "low"), ("peak_rss_mb", "low"),
          ("buffer_msgs_at_end_of_loop", "count"), ("captured_all", "flag")],
    "c": [("ns_overhead_per_call", "low"), ("stop_s", "low"), ("mq_tasks_received", "count"),
          ("mq_tasks_expected", "count"), ("captured_all", "flag")],
    "d": [("ns_overhead_per_call", "low"), ("stop_s", "low"), ("peak_rss_mb", "low"),
          ("mq_tasks_received", "count"), ("mq_tasks_expected", "count"), ("captured_all", "flag")],
    "e": [("ns_overhead_per_iter", "low"), ("stop_s", "low"), ("buffer_msgs", "count"), ("captured_all", "flag")],
    "f": [("ns_overhead_per_task", "low"), ("stop_s", "low"), ("buffer_msgs", "count"), ("captured_all", "flag")],
    "g": [("read_s", "low"), ("peak_rss_mb", "low"), ("rows", "count"), ("cols", "count"),
          ("lines", "count"), ("mb", "low")],
    "h": [("ns_per_call", "low"), ("stop_s", "low"), ("e2e_s", "low"), ("tasks_per_s_e2e", "high"),
          ("found", "count"), ("all_found", "flag")],
}


def log(msg):
    sys.stderr.write(f"[run_compare] {msg}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------

def find_harness(path):
    if path:
        return os.path.abspath(path)
    for cand in (os.path.join(REPO, "..", "shared", "bench", "bench_flowcept.py"),
                 "/work/shared/bench/bench_flowcept.py"):
        if os.path.exists(cand):
            return os.path.abspath(cand)
    return None


def _check(py, code):
    try:
        # cwd outside the repo, as the harness' workers run: a source folder in cwd must not count
        r = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=300,
                           cwd=tempfile.gettempdir())
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"{type(e).__name__}: {e}"
    return r.returncode == 0, (r.stderr or r.stdout).strip()[-600:]


def ensure_upstream_venv(venv=UPSTREAM_VENV):
    """Create the upstream venv if missing and make sure flowcept==1.0.3 (+ scenario deps) imports."""
    py = os.path.join(venv, "bin", "python")
    if os.path.exists(py):
        ok, _ = _check(py, UPSTREAM_CHECK)
        if ok:
            return py
    else:
        log(f"creating upstream venv {venv} ({sys.executable} -m venv)")
        os.makedirs(os.path.dirname(venv), exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    log("pip install " + " ".join(UPSTREAM_PIP))
    r = subprocess.run(pip + UPSTREAM_PIP)
    if r.returncode != 0:
        log("extras install failed; trying " + " ".join(UPSTREAM_PIP_FALLBACK))
        subprocess.run(pip + UPSTREAM_PIP_FALLBACK, check=True)
    ok, err = _check(py, UPSTREAM_CHECK)
    if not ok:
        raise SystemExit(f"upstream venv {venv} is not usable: {err}")
    return py


# ---------------------------------------------------------------------------
# running the harness
# ---------------------------------------------------------------------------

def harness_cmd(harness, py, scen, out_file, label, args, passthrough):
    cmd = [sys.executable, harness, "--python", py, "--scenarios", scen, "--out", out_file,
           "--label", label, "--redis-host", args.redis_host, "--redis-port", str(args.redis_port)]
    n = args.n or (QUICK["n"] if args.quick else 0)
    reps = args.reps or (QUICK["reps"] if args.quick else 0)
    g_n = args.g_n or (QUICK["g_n"] if args.quick else 0)
    if n:
        cmd += ["--n", str(n)]
    if reps:
        cmd += ["--reps", str(reps)]
    if g_n:
        cmd += ["--g-n", str(g_n)]
    if args.timeout:
        cmd += ["--timeout", str(args.timeout)]
    return cmd + list(passthrough)


def run_side(cmd, side, log_f):
    """Run one harness invocation; stream its progress (stderr) with a side prefix."""
    log_f.write("$ " + " ".join(cmd) + "\n")
    log_f.flush()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    for line in proc.stderr:
        log_f.write(line)
        sys.stderr.write(f"  [{side}] {line}")
        sys.stderr.flush()
    rc = proc.wait()
    log_f.write(f"# rc={rc} wall={time.perf_counter() - t0:.1f}s\n")
    log_f.flush()
    return rc


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def load_jsonl(path):
    metas, results = [], []
    if not path or not os.path.exists(path):
        return metas, results
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("kind") == "meta":
                metas.append(rec)
            elif rec.get("kind") == "result":
                results.append(rec)
    return metas, results


def _get(rec, key):
    if rec is None:
        return None
    if key.startswith("importtime."):
        return (rec.get("importtime") or {}).get(key.split(".", 1)[1])
    return (rec.get("metrics") or {}).get(key)


def _fmt(v):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v.is_integer():
            return str(int(v))
        a = abs(v)
        if a >= 100:
            return f"{v:.0f}"
        if a >= 1:
            return f"{v:.2f}"
        if a >= 0.01:
            return f"{v:.3f}"
        return f"{v:.4g}"
    return str(v)


def _ratio(up, ours, direction):
    num = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)  # noqa: E731
    if up is None or ours is None:
        return ""
    if direction in ("low", "high"):
        if not (num(up) and num(ours)) or up <= 0 or ours <= 0:
            return "n/a"
        r = up / ours if direction == "low" else ours / up
        return f"{r:.2f}x"
    if up is None or ours is None:
        return ""
    return "same" if up == ours else "DIFF"


def _status(rec):
    if rec is None:
        return "not run"
    st = rec.get("status", "?")
    if st == "ok":
        return "ok"
    return f"{st} ({rec.get('reps_ok', 0)}/{rec.get('reps_total', 0)} reps ok)"


def build_table(out_dir, scenarios, sides_run, skipped=None):
    data = {}
    metas = {}
    for side in SIDES:
        m, res = load_jsonl(os.path.join(out_dir, f"{side}.jsonl"))
        metas[side] = m[0] if m else None
        for rec in res:
            data[(side, rec.get("scenario"), rec.get("name", "?"))] = rec
    # ordered record names per scenario, as they appear
    names = []
    for (_side, scen, name) in data:
        if (scen, name) not in names:
            names.append((scen, name))
    names.sort(key=lambda sn: ORDER.index(sn[0]) if sn[0] in ORDER else 99)

    lines = ["# Flowcept benchmark: upstream vs ours", ""]
    for side in SIDES:
        meta = metas.get(side)
        if meta:
            pr = meta.get("probe") or {}
            desc = (f"flowcept {pr.get('flowcept_version')} from `{pr.get('flowcept_file')}`"
                    if "error" not in pr else f"PROBE FAILED: {pr.get('error')}")
            lines.append(f"- **{side}**: `{meta.get('target_python')}` — {desc}")
        elif skipped and side in skipped:
            lines.append(f"- **{side}**: SKIPPED — {skipped[side]}")
        elif side in sides_run:
            lines.append(f"- **{side}**: no results")
        else:
            lines.append(f"- **{side}**: not run")
    any_meta = next((metas[s] for s in SIDES if metas.get(s)), None)
    if any_meta:
        mach = any_meta.get("machine") or {}
        lines.append(f"- machine: {mach.get('nproc')} cpus, {mach.get('cpu_model')}, "
                     f"{mach.get('mem_total_gb')} GB; redis reachable: "
                     f"{(any_meta.get('redis') or {}).get('reachable')}")
    lines += ["- values are medians over reps (each rep a fresh process); "
              "ratio = upstream/ours for times/sizes, ours/upstream for throughput: **>1 means ours is better**; "
              "counts/flags show same/DIFF", ""]
    lines.append("| scenario / metric | upstream | ours | ratio |")
    lines.append("| --- | ---: | ---: | ---: |")
    notes = []
    for scen, name in names:
        up, ours = data.get(("upstream", scen, name)), data.get(("ours", scen, name))
        st_u, st_o = _status(up), _status(ours)
        status_txt = "" if (st_u in ("ok", "not run") and st_o in ("ok", "not run")) else \
            f" — upstream: {st_u}, ours: {st_o}"
        src = {s: ((r or {}).get("params") or {}).get("source") for s, r in (("upstream", up), ("ours", ours))}
        if any(src.values()):  # g: how the JSONL was made (library, or synthetic after a library failure)
            status_txt += " — source: " + ", ".join(f"{s}={v}" for s, v in src.items() if v)
        lines.append(f"| **{scen}: {name}**{status_txt} | | | |")
        for key, direction in METRICS.get(scen, []):
            vu, vo = _get(up, key), _get(ours, key)
            if vu is None and vo is None:
                continue
            lines.append(f"| &nbsp;&nbsp;{key} | {_fmt(vu)} | {_fmt(vo)} | {_ratio(vu, vo, direction)} |")
        for side, rec in (("upstream", up), ("ours", ours)):
            if rec and rec.get("errors"):
                for e in rec["errors"][:3]:
                    notes.append(f"- {side} {scen}:{name}: {e[:400]}")
    if notes:
        lines += ["", "## Errors", ""] + notes
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--scenarios", default=DEFAULT_SCENARIOS,
                    help=f"comma list from {','.join(ORDER)} (default {DEFAULT_SCENARIOS})")
    ap.add_argument("--quick", action="store_true",
                    help=f"smaller sizes: --n {QUICK['n']} --reps {QUICK['reps']} --g-n {QUICK['g_n']}")
    ap.add_argument("--ours", default=os.path.join(REPO, ".venv", "bin", "python"),
                    help="interpreter of our package (default <repo>/.venv/bin/python)")
    ap.add_argument("--upstream", help=f"interpreter with upstream flowcept (default: the venv {UPSTREAM_VENV}, "
                                       "created if missing)")
    ap.add_argument("--only", choices=SIDES, help="run one side only")
    ap.add_argument("--out", help="output dir (default bench/results/<timestamp>/)")
    ap.add_argument("--harness", help="path of bench_flowcept.py (default ../shared/bench/ beside the repo, "
                                      "then /work/shared/bench/)")
    ap.add_argument("--n", type=int, default=0, help="override n of every scenario except g")
    ap.add_argument("--reps", type=int, default=0, help="override reps of every scenario")
    ap.add_argument("--g-n", type=int, default=0, help="override n of scenario g")
    ap.add_argument("--timeout", type=int, default=0, help="per-worker timeout passed to the harness")
    ap.add_argument("--redis-host", default="127.0.0.1")
    ap.add_argument("--redis-port", type=int, default=6379)
    ap.add_argument("--setup-only", action="store_true", help="only create/check the upstream venv")
    ap.add_argument("--report", metavar="DIR", help="only rebuild the table from DIR/{upstream,ours}.jsonl")
    args, passthrough = ap.parse_known_args(argv)

    if args.report:
        table = build_table(args.report, None, SIDES)
        with open(os.path.join(args.report, "table.md"), "w") as f:
            f.write(table)
        print(table)
        return 0

    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    bad = [s for s in scenarios if s not in ORDER]
    if bad:
        ap.error(f"unknown scenarios {bad}; choose from {ORDER}")
    harness = find_harness(args.harness)
    if not harness or not os.path.exists(harness):
        ap.error(f"harness not found ({args.harness or 'default locations'}); pass --harness")

    sides = [args.only] if args.only else list(SIDES)
    pythons = {}
    if "upstream" in sides or args.setup_only:
        pythons["upstream"] = os.path.abspath(args.upstream) if args.upstream else ensure_upstream_venv()
        if args.setup_only:
            print(pythons["upstream"])
            return 0
    if "ours" in sides:
        pythons["ours"] = os.path.abspath(args.ours)
    skipped = {}
    for side in list(sides):
        py = pythons[side]
        ok, err = (_check(py, "import flowcept") if os.path.exists(py)
                   else (False, f"interpreter {py} does not exist"))
        if not ok:
            log(f"{side}: cannot import flowcept with {py}: {err.splitlines()[-1] if err else ''}")
            log(f"{side}: skipped (use --only {'upstream' if side == 'ours' else 'ours'} to silence)")
            sides.remove(side)
            skipped[side] = f"cannot import flowcept with `{py}`"
    if not sides:
        log("nothing to run")
        return 2

    out_dir = os.path.abspath(args.out or os.path.join(HERE, "results", time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(out_dir, exist_ok=True)
    for side in SIDES:  # fresh files: the harness appends
        p = os.path.join(out_dir, f"{side}.jsonl")
        if os.path.exists(p):
            os.remove(p)
    log(f"harness {harness}; sides {sides}; scenarios {scenarios}; out {out_dir}")
    rcs = {}
    t_all = time.perf_counter()
    with open(os.path.join(out_dir, "harness.log"), "w") as log_f:
        for scen in scenarios:
            for side in sides:
                label = f"upstream-{UPSTREAM_VERSION}" if side == "upstream" else "ours"
                cmd = harness_cmd(harness, pythons[side], scen, os.path.join(out_dir, f"{side}.jsonl"),
                                  label, args, passthrough)
                log(f"{scen} / {side}")
                rcs[(scen, side)] = run_side(cmd, side, log_f)
    log(f"done in {time.perf_counter() - t_all:.0f}s")
    table = build_table(out_dir, scenarios, sides, skipped)
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(table)
    print(table)
    log(f"table: {os.path.join(out_dir, 'table.md')}")
    return 0 if not skipped and all(rc == 0 for rc in rcs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
