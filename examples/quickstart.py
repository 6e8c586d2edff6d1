"""A complete workflow with the zero-configuration default: no settings file, no server.

Run: python examples/quickstart.py
"""

from flowcept import Flowcept, FlowceptLoop, FlowceptTask, flowcept_task


@flowcept_task(output_names="y")
def mult_two(x: int) -> int:
    return 2 * x


@flowcept_task(output_names=["mean", "total"])
def summarize(values: list) -> tuple:
    return sum(values) / len(values), sum(values)


def main() -> None:
    with Flowcept(workflow_name="quickstart") as fc:
        mult_two(21)
        doubled = [mult_two(v) for v in FlowceptLoop(range(3), loop_name="doubling", item_name="v")]
        with FlowceptTask(activity_id="report", used={"n": len(doubled)}) as t:
            mean, total = summarize(doubled)
            t.end(generated={"mean": mean})
        print(f"workflow {fc.current_workflow_id}: {len(fc.get_buffer())} messages captured")

    # Read back what was captured: from the buffer file written at stop...
    for msg in Flowcept.read_buffer_file():
        if msg["type"] == "task" and msg["activity_id"] == "mult_two" and msg["used"] == {"x": 21}:
            print(f"{msg['activity_id']}: used {msg['used']} generated {msg['generated']}")
    # ...and from the database (LMDB in ./flowcept_lmdb by default), queried MongoDB-style
    try:
        tasks = Flowcept.db.task_query({"workflow_id": fc.current_workflow_id, "used.x": {"$gte": 1}},
                                       sort=[("used.x", 1)])
        print("stored tasks with x >= 1:", [(t["activity_id"], t["used"]["x"]) for t in tasks])
    except Exception as e:  # e.g. the flowcept-lmdb plugin is not installed
        print(f"no database to query: {e}")


if __name__ == "__main__":
    main()
