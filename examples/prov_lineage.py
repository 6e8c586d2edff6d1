"""Where a result came from, and the run as W3C PROV: lineage queries and the PROV export on the default store.

Run: python examples/prov_lineage.py      (no server, no settings file: the built-in LMDB store)

``load`` returns a table, ``clean`` uses it, ``fit`` uses what ``clean`` returned and calls ``step`` inside. The
same value passed from one task to the next is one PROV entity (its content hash), so ``Flowcept.db.get_lineage``
finds the tasks a result came from (upstream) or affected (downstream) through data flow and nested calls, and
``Flowcept.export_prov`` writes the whole workflow as PROV-JSON (or PROV-N) that the ``prov`` library reads.
Run it twice: the second run's lineage also reaches the first run's tasks, which produced the same values.
"""

from __future__ import annotations

import os
import tempfile

from flowcept import Flowcept, flowcept_task


@flowcept_task
def load(n):
    return [i * 1.5 for i in range(n)]


@flowcept_task
def clean(rows):
    return [r for r in rows if r > 1]


@flowcept_task
def step(rows, k):
    return sum(rows) / (k + 1)


@flowcept_task
def fit(rows):
    return [step(rows, k) for k in range(2)]


def main() -> None:
    with Flowcept(workflow_name="prov_example") as fc:
        fit(clean(load(5)))
    tasks = {t["activity_id"]: t for t in Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})}

    # Values are entities by content: the same values from an earlier run of this example link to it too.
    def where(entry: dict) -> str:
        return "" if entry["document"].get("workflow_id") == fc.current_workflow_id else " (an earlier run)"

    lineage = Flowcept.db.get_lineage(tasks["fit"]["task_id"], direction="upstream")
    for entry in lineage["tasks"]:
        print(f"upstream of fit, depth {entry['depth']}: {entry['document']['activity_id']}{where(entry)}")
    downstream = Flowcept.db.get_lineage(tasks["load"]["task_id"], direction="downstream")
    print("downstream of load:", [e["document"]["activity_id"] + where(e) for e in downstream["tasks"][1:]])

    out = os.path.join(tempfile.mkdtemp(), "run.prov.json")
    meta = Flowcept.export_prov(out, workflow_id=fc.current_workflow_id)
    print(f"PROV-JSON: {meta['activities']} activities, {meta['entities']} entities, {meta['agents']} agents, "
          f"{meta['relations']} relations -> {meta['output_path']}")
    try:
        import prov.model

        doc = prov.model.ProvDocument.deserialize(source=out, format="json")
        print("read back by the prov library:", [str(b.identifier) for b in doc.bundles])
    except ImportError:
        print("(pip install prov to read it back)")


if __name__ == "__main__":
    main()
