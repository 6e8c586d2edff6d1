"""flowcept-ui: a read-only provenance browser (``flowcept ui``) over the store the settings enable.

The JSON API (``/api/...``, documented at ``/api/openapi.json``) and the pages (``/``, ``/workflows/{id}``,
``/tasks/{id}``, ``/campaigns/{id}``) are served by :class:`flowcept_ui.server.UIServer`; every asset ships in this
package (no CDN, no external fonts).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
