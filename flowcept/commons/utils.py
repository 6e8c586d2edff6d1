from flowcept_core.compat import (  # noqa: F401
    assert_by_querying_tasks_until,
    evaluate_until,
    get_current_config_values,
    get_utc_now,
    get_utc_now_str,
)
