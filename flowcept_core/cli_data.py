"""``flowcept`` subcommands that read captured provenance: query, workflows, workflow, report, export, read-buffer."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from flowcept_core.cli_common import TABLE_COLUMNS, UsageError, flatten, json_arg, print_docs, working

__all__ = ["add_data_parsers", "COMMANDS"]

_COLLECTIONS = ("tasks", "workflows", "objects")


def _db() -> Any:
    from flowcept_core.query import DBAPI

    return DBAPI()


def cmd_query(args: argparse.Namespace) -> int:
    """``flowcept query``: documents matching a JSON filter, as a table or JSON lines."""
    filt = json_arg(args.filter, "--filter") or {}
    projection = json_arg(args.projection, "--projection", (dict, list))
    sort = json_arg(args.sort, "--sort", (list, dict))
    if isinstance(sort, dict):
        sort = list(sort.items())
    if args.limit < 0:
        raise UsageError(f"--limit must be 0 (no limit) or more, got {args.limit}")
    with working(f"querying {args.collection}"):
        docs = _db().query(filt, projection, args.limit, sort, collection=args.collection) or []
    cols = (
        list(projection)
        if isinstance(projection, list)
        else (
            [k for k, v in projection.items() if v] if isinstance(projection, dict) else TABLE_COLUMNS[args.collection]
        )
    )
    print_docs(docs, args.format, cols)
    return 0


def _task_counts(db: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in db.query({}, ["workflow_id"]) or []:
        wid = t.get("workflow_id")
        counts[wid] = counts.get(wid, 0) + 1
    return counts


def cmd_workflows(args: argparse.Namespace) -> int:
    """``flowcept workflows``: every stored workflow with its number of tasks, newest first."""
    db = _db()
    workflows = db.query({}, collection="workflows") or []
    counts = _task_counts(db)
    workflows.sort(key=lambda w: w.get("started_at") or w.get("utc_timestamp") or 0, reverse=True)
    if args.limit:
        workflows = workflows[: args.limit]
    rows = [
        {
            "workflow_id": w.get("workflow_id"),
            "name": w.get("name"),
            "status": w.get("status"),
            "started_at": w.get("started_at") or w.get("utc_timestamp"),
            "tasks": counts.get(w.get("workflow_id"), 0),
            "campaign_id": w.get("campaign_id"),
        }
        for w in workflows
    ]
    print_docs(rows, args.format, ["workflow_id", "name", "status", "started_at", "tasks", "campaign_id"])
    return 0


def cmd_workflow(args: argparse.Namespace) -> int:
    """``flowcept workflow ID``: the workflow's provenance card (summary, structure, resources, errors)."""
    from flowcept_core.report.collect import RunCollector
    from flowcept_core.report.markdown import render_card
    from flowcept_core.report.source import iter_db

    try:
        docs = iter_db(args.workflow_id, None)
    except LookupError:
        raise UsageError(
            f"unknown workflow id {args.workflow_id!r}: no workflow or task stored with it "
            "(flowcept workflows lists them)"
        ) from None
    run = RunCollector()
    for d in docs:
        run.add(d)
    _show_markdown(render_card(run.finish()), args.plain)
    return 0


def _show_markdown(text: str, plain: bool) -> None:
    if not plain and sys.stdout.isatty():
        try:
            from rich.console import Console
            from rich.markdown import Markdown

            Console().print(Markdown(text))
            return
        except ImportError:
            pass
    sys.stdout.write(text)


def cmd_report(args: argparse.Namespace) -> int:
    """``flowcept report``: write a provenance card (markdown) or report (pdf); prints where it went."""
    from flowcept_core.report import generate_report

    sources = [s for s in (args.input, args.workflow_id, args.campaign_id) if s]
    if not sources:
        raise UsageError("give --input FILE (a buffer file), --workflow-id ID or --campaign-id ID")
    if args.input and (args.workflow_id or args.campaign_id):
        raise UsageError("give --input or --workflow-id/--campaign-id, not both")
    report_type = "provenance_report" if args.format == "pdf" else "provenance_card"
    try:
        result = generate_report(
            report_type,
            args.format,
            bool(args.print),
            args.output,
            args.input,
            None,
            args.workflow_id,
            args.campaign_id,
        )
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    except LookupError as e:
        raise UsageError(str(e).strip("'\"")) from None
    print(
        f"{result['format']} report of {result['tasks']} tasks in {result['workflows']} workflow(s) written to "
        f"{result['output_path']}"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``flowcept export``: stored documents to a JSONL, CSV, PROV-JSON or PROV-N file."""
    filt = json_arg(args.filter, "--filter") or {}
    if args.workflow_id:
        filt["workflow_id"] = args.workflow_id
    if args.campaign_id:
        filt["campaign_id"] = args.campaign_id
    if args.format in ("prov", "provn"):
        return _export_prov(args, filt)
    db = _db()
    with working(f"reading {args.collection}"):
        docs = db.query(filt, collection=args.collection) or []
    if not docs and (args.workflow_id or args.campaign_id):
        raise UsageError(f"nothing stored in {args.collection} for {filt}")
    with working(f"writing {len(docs)} documents to {args.output}"):
        _export(db, docs, filt, args)
    print(f"{len(docs)} {args.collection} documents written to {os.path.abspath(args.output)} ({args.format})")
    return 0


def _export(db: Any, docs: list[dict], filt: dict, args: argparse.Namespace) -> None:
    if args.format == "jsonl":
        from flowcept_core.exports import export_documents

        export_documents(docs, args.output, "jsonl")
    else:
        _write_csv(docs, args.output)


def _export_prov(args: argparse.Namespace, filt: dict) -> int:
    """--format prov (PROV-JSON) or provn (PROV-N): the workflow or campaign read by export_prov itself; with
    --filter, the matching tasks and their workflows."""
    from flowcept_core.prov_export import export_prov

    fmt = "json" if args.format == "prov" else "provn"
    try:
        with working(f"writing PROV to {args.output}"):
            if args.filter is None and (args.workflow_id or args.campaign_id):
                result = export_prov(args.output, fmt, args.workflow_id, args.campaign_id if not args.workflow_id
                                     else None)
            else:
                db = _db()
                tasks = db.query(filt) or []
                if not tasks:
                    raise LookupError(f"nothing stored in tasks for {filt}")
                wids = sorted({t["workflow_id"] for t in tasks if t.get("workflow_id") is not None})
                workflows = (db.query({"workflow_id": {"$in": wids}}, collection="workflows") or []) if wids else []
                result = export_prov(args.output, fmt, records=[*workflows, *tasks])
    except LookupError as e:
        raise UsageError(str(e).strip("'\"")) from None
    print(f"PROV ({args.format}) of {result['tasks']} tasks in {result['workflows']} workflow(s) written to "
          f"{result['output_path']}: {result['activities']} activities, {result['entities']} entities, "
          f"{result['agents']} agents, {result['relations']} relations")
    return 0


def _write_csv(docs: list[dict], path: str) -> None:
    import csv

    rows = [flatten(d) for d in docs]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    import io

    from flowcept_core.private_files import open_private

    with io.TextIOWrapper(open_private(path), encoding="utf-8", newline="") as f:  # 0600, as every export
        w = csv.DictWriter(f, columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def cmd_read_buffer(args: argparse.Namespace) -> int:
    """``flowcept read-buffer FILE``: the messages of a buffer file, filtered, as a table or JSON lines."""
    from flowcept_core.report.source import iter_jsonl_file

    filt = json_arg(args.filter, "--filter") or {}
    try:
        messages = iter_jsonl_file(args.path)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    if args.type:
        filt["type"] = args.type
    from flowcept_core.filters import compile_filter

    match = compile_filter(filt) if filt else None

    def selected() -> Any:
        n = 0
        for m in messages:
            if match is None or match(m):
                yield m
                n += 1
                if args.limit and n >= args.limit:
                    return

    try:
        print_docs(selected(), args.format, None if args.format == "jsonl" else TABLE_COLUMNS["tasks"])
    except ValueError as e:
        raise UsageError(str(e)) from None
    return 0


def add_data_parsers(sub: Any, formatter: Any) -> None:
    """Called by the ``flowcept`` command while it builds its parser; adds this module's subcommands."""

    def add(name: str, fn: Any, help_text: str, examples: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=help_text, description=help_text, epilog="examples:\n" + examples, formatter_class=formatter
        )
        p.set_defaults(func=fn)
        return p

    def fmt(p: argparse.ArgumentParser, default: str = "table") -> None:
        p.add_argument("--format", choices=("table", "jsonl"), default=default, help=f"output (default {default})")

    p = add(
        "query",
        cmd_query,
        "query stored documents with a JSON filter",
        '  flowcept query --filter \'{"activity_id": "train", "status": "ERROR"}\'\n'
        '  flowcept query --filter \'{"used.lr": {"$gt": 0.01}}\' --sort \'[["started_at", -1]]\' --limit 5\n'
        "  flowcept query --collection workflows --format jsonl",
    )
    p.add_argument("--filter", help="MongoDB-style JSON filter (default: everything)")
    p.add_argument("--projection", help="JSON list of fields, or object {field: 1}")
    p.add_argument("--sort", help="JSON list of [field, 1|-1] pairs")
    p.add_argument("--limit", type=int, default=0, help="at most this many documents (0: no limit)")
    p.add_argument("--collection", choices=_COLLECTIONS, default="tasks")
    fmt(p)
    p = add(
        "workflows",
        cmd_workflows,
        "list stored workflows with their task counts",
        "  flowcept workflows\n  flowcept workflows --limit 10 --format jsonl",
    )
    p.add_argument("--limit", type=int, default=0)
    fmt(p)
    p = add(
        "workflow",
        cmd_workflow,
        "summary of one stored workflow (its provenance card)",
        "  flowcept workflow 0d6c...e1",
    )
    p.add_argument("workflow_id")
    p.add_argument("--plain", action="store_true", help="print the Markdown source even on a terminal")
    p = add(
        "report",
        cmd_report,
        "write a provenance card (markdown) or report (pdf)",
        "  flowcept report --input flowcept_buffer.jsonl --print\n"
        "  flowcept report --workflow-id 0d6c...e1 --format pdf --output run.pdf",
    )
    p.add_argument("--input", "--input-path", dest="input", help="a JSONL buffer file")
    p.add_argument("--workflow-id", help="read this workflow from the database")
    p.add_argument("--campaign-id", help="read every workflow of this campaign from the database")
    p.add_argument("--format", choices=("markdown", "pdf"), default="markdown")
    p.add_argument(
        "--output",
        "--output-path",
        dest="output",
        help="file to write (default WORKFLOW_CARD.md / PROVENANCE_REPORT.pdf)",
    )
    p.add_argument("--print", action="store_true", help="also render the card on the terminal (needs rich)")
    p = add(
        "export",
        cmd_export,
        "export stored documents to JSONL, CSV, PROV-JSON (prov) or PROV-N (provn)",
        "  flowcept export --workflow-id 0d6c...e1 --output tasks.jsonl\n"
        "  flowcept export --campaign-id c1 --format csv --output tasks.csv\n"
        "  flowcept export --workflow-id 0d6c...e1 --format prov --output run.prov.json\n"
        "  flowcept export --campaign-id c1 --format provn --output campaign.provn",
    )
    p.add_argument("--output", required=True, help="file to write")
    p.add_argument("--format", choices=("jsonl", "csv", "prov", "provn"), default="jsonl")
    p.add_argument("--workflow-id")
    p.add_argument("--campaign-id")
    p.add_argument("--filter", help="MongoDB-style JSON filter")
    p.add_argument("--collection", choices=_COLLECTIONS, default="tasks")
    p = add(
        "read-buffer",
        cmd_read_buffer,
        "print the messages of a buffer file (streamed)",
        "  flowcept read-buffer flowcept_buffer.jsonl --type task --limit 20\n"
        '  flowcept read-buffer run.jsonl --filter \'{"status": "ERROR"}\' --format jsonl',
    )
    p.add_argument("path", help="a JSONL buffer file")
    p.add_argument("--type", help="only messages of this type (task, workflow, object)")
    p.add_argument("--filter", help="MongoDB-style JSON filter")
    p.add_argument("--limit", type=int, default=0)
    fmt(p)


COMMANDS = ("query", "workflows", "workflow", "report", "export", "read-buffer")
