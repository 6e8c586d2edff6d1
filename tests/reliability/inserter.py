"""A DocumentInserter process for the fault suite: runs until killed (settings from FLOWCEPT_SETTINGS_PATH)."""

from flowcept import Flowcept

if __name__ == "__main__":
    Flowcept.start_consumption_services()
