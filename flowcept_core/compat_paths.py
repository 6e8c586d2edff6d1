"""Upstream import paths that do not exist here fail with a message saying what replaced them.

``install()`` (called by ``import flowcept``) appends one finder to ``sys.meta_path``. It is asked only after every
other finder found nothing, and only answers for names under ``flowcept.`` listed in flowcept_core.compat_moved
(loaded on the first such miss, so ``import flowcept`` stays small): importing one raises ModuleNotFoundError naming
the replacement. Other missing names fail as usual.
"""

import sys  # typing is not imported: this module loads with ``import flowcept``

__all__ = ["install"]


class _MovedFinder:
    """Last on sys.meta_path: consulted only for modules no other finder found."""

    @staticmethod
    def find_spec(fullname: str, path: object = None, target: object = None) -> None:
        if fullname.startswith("flowcept."):
            from flowcept_core.compat_moved import moved_message

            text = moved_message(fullname)
            if text is not None:
                raise ModuleNotFoundError(text, name=fullname)
        return None


def install() -> None:
    """Called on ``import flowcept``; adds the finder once."""
    if _MovedFinder not in sys.meta_path:
        sys.meta_path.append(_MovedFinder)
