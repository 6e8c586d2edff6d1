"""A DocumentInserter process for the fault suite: runs until killed (settings from FLOWCEPT_SETTINGS_PATH).

Like a service under a supervisor, it tries again (3 times, 1 s apart) when the store does not answer at start-up.
Prints "READY" once it has joined the persistence group (what it receives from then on is its to store), so a
scenario can pause or fault it knowing it is connected.
"""

import sys
import time

from flowcept_core.consumers.document_inserter import DocumentInserter
from flowcept_core.logger import configure_logging
from flowcept_core.settings import get_settings
from flowcept_core.stores import StoreUnavailableError

if __name__ == "__main__":
    configure_logging(get_settings().section("log"))  # as Flowcept.start_consumption_services() does
    for attempt in range(3):
        try:
            inserter = DocumentInserter(get_settings()).start(daemon=True)
            break
        except StoreUnavailableError as e:
            print(f"inserter start-up attempt {attempt + 1}: {e}", file=sys.stderr, flush=True)
            if attempt == 2:
                raise
            time.sleep(1)
    print("READY", flush=True)
    while inserter.is_running:
        inserter._main_thread.join(0.5)
