"""A DocumentInserter process for the fault suite: runs until killed (settings from FLOWCEPT_SETTINGS_PATH).

Like a service under a supervisor, it tries again (3 times, 1 s apart) when the store does not answer at start-up.
"""

import sys
import time

from flowcept import Flowcept
from flowcept_core.stores import StoreUnavailableError

if __name__ == "__main__":
    for attempt in range(3):
        try:
            Flowcept.start_consumption_services()
            break
        except StoreUnavailableError as e:
            print(f"inserter start-up attempt {attempt + 1}: {e}", file=sys.stderr, flush=True)
            if attempt == 2:
                raise
            time.sleep(1)
