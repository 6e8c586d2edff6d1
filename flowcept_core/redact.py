"""Masking secrets in captured values before they leave the process.

A value is replaced by ``***`` when the key it sits under looks secret: one of the secret words (``password``,
``passwd``, ``secret``, ``token``, ``api_key``, ``apikey``, ``access_key``, ``credentials``, ``authorization``,
``private_key``, ``signing_key``, plus ``project.secret_keys``) appears as a whole part of the key,
case-insensitively, parts being split at ``_``, ``-``, ``.``, spaces and camelCase boundaries (``db_password``,
``X-Api-Key``, ``accessToken`` match; ``max_tokens``, ``tokenizer`` do not). ``None`` and booleans under such
keys are kept (``use_token: true`` says nothing secret). Inside any string, the password of a URL
(``scheme://user:pw@host``) becomes ``***``. Command lines (``--password=x``, ``--token x``) are masked argument by
argument.

Called off the hot path: by flowcept_core.serialize while values are sanitized, for settings snapshots, workflow
metadata and process command lines. ``project.redact_secrets: false`` turns it off.

Example::

    r = Redactor(("db_pass",))
    r.secret_key("X-Api-Key")                     # True
    r.mask_urls("redis://u:pw@h:6379/0")          # "redis://u:***@h:6379/0"
    r.mask_argv(["app", "--token", "abc"])        # ["app", "--token", "***"]
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Redactor", "DEFAULT_SECRET_KEYS", "MASK", "DEFAULT_REDACTOR", "redactor_from_settings", "check_secret_keys"]

MASK = "***"
DEFAULT_SECRET_KEYS: tuple[str, ...] = ("password", "passwd", "secret", "token", "api_key", "apikey", "access_key",
                                        "credentials", "authorization", "private_key", "signing_key")
# settings keys of this feature: their values are configuration, not secrets
_EXEMPT_KEYS = frozenset({"secret_keys", "redact_secrets"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\s\-.:/]+")
# scheme://user:password@  (the user part may be empty: redis://:pw@host); the password runs to the last @
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]*):[^\s/]*@")
_CACHE_MAX = 4096


def _normalize(key: str) -> str:
    """'X-Api-Key' -> '_x_api_key_': lower case, parts joined by '_', with a '_' at both ends."""
    key = _CAMEL.sub("_", key)
    return "_" + _SEPARATORS.sub("_", key).lower().strip("_") + "_"


def _encodable(s: str) -> bool:
    """True when s can be a key in every store: valid UTF-8, no NUL (BSON keys are NUL-terminated)."""
    if "\x00" in s:
        return False
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def check_secret_keys(value: Any, key: str = "project.secret_keys") -> tuple[str, ...]:
    """The configured extra secret words as a tuple; ValueError naming the bad entry when one is not a word."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"settings key {key} = {value!r} must be a list of key names (e.g. [db_pass, session])")
    for word in value:
        if not isinstance(word, str) or not _normalize(word).strip("_"):
            raise ValueError(f"settings key {key} has {word!r}; each entry must be a non-empty string such as "
                             "'session_id'")
    return tuple(value)


class Redactor:
    """Decides which keys are secret and masks URL credentials and command-line secrets.

    Key decisions are cached (keys repeat across calls), so checking a known key is one dict lookup.
    """

    __slots__ = ("words", "_pattern", "_quick", "_known", "_needs")

    def __init__(self, extra: Iterable[str] = ()):
        words = tuple(dict.fromkeys((*DEFAULT_SECRET_KEYS, *extra)))
        self.words = words
        alternatives = "|".join(re.escape(_normalize(w).strip("_")) for w in words)
        self._pattern = re.compile(f"_(?:{alternatives})_")
        # a key holding none of the words' parts (any case) cannot match: one C-level search, no normalizing
        parts = sorted({p for w in words for p in _normalize(w).strip("_").split("_") if p}, key=len, reverse=True)
        self._quick = re.compile("|".join(map(re.escape, parts)))  # searched in the lower-cased key (2x faster)
        self._known: dict[Any, bool] = {}
        self._needs: dict[str, bool] = {}

    def secret_key(self, key: Any) -> bool:
        """True when values under key must be masked (key is usually a str; other keys are checked as text)."""
        known = self._known.get(key)
        if known is None:
            text = key if type(key) is str else str(key)
            known = (self._quick.search(text.lower()) is not None and text not in _EXEMPT_KEYS
                     and self._pattern.search(_normalize(text)) is not None)
            if len(self._known) >= _CACHE_MAX:
                self._known.clear()
            self._known[key] = known
        return known

    def secret_names(self, names: Iterable[Any]) -> bool:
        """True when any of names is a secret key (templates ask this once per parameter list)."""
        return any(self.secret_key(n) for n in names if n is not None)

    def keys_need_work(self, d: dict) -> bool:
        """True when a dict has a secret key or one that is not valid text (sanitize must rebuild it); one lookup
        per known key."""
        needs = self._needs
        for k in d:
            if type(k) is not str:
                return True
            hit = needs.get(k)
            if hit is None:
                hit = self.secret_key(k) or not _encodable(k)
                if len(needs) >= _CACHE_MAX:
                    needs.clear()
                needs[k] = hit
            if hit:
                return True
        return False

    @staticmethod
    def masked(value: Any) -> Any:
        """What replaces a value under a secret key: None and booleans stay, everything else becomes ``***``."""
        return value if value is None or type(value) is bool else MASK

    @staticmethod
    def mask_urls(text: str) -> str:
        """text with the password of every ``scheme://user:pw@`` replaced by ``***``."""
        if "://" not in text or "@" not in text:
            return text
        return _URL_CREDENTIALS.sub(r"\1:" + MASK + "@", text)

    def mask_argv(self, argv: Any) -> Any:
        """A command line (list of arguments) with secret options masked: ``--password=x`` -> ``--password=***``,
        ``--token x`` -> ``--token ***``, URL passwords masked in every argument. Other values are returned as is."""
        if not isinstance(argv, (list, tuple)):
            return self.mask_urls(argv) if isinstance(argv, str) else argv
        out = []
        mask_next = False
        for arg in argv:
            if not isinstance(arg, str):
                out.append(arg)
                mask_next = False
                continue
            if mask_next and not arg.startswith("-"):
                out.append(MASK)
                mask_next = False
                continue
            mask_next = False
            if arg.startswith("-") and len(arg) > 1:
                name, eq, _ = arg.lstrip("-").partition("=")
                if self.secret_key(name):
                    if eq:
                        arg = arg[: arg.index("=") + 1] + MASK
                    else:
                        mask_next = True
            out.append(self.mask_urls(arg))
        return out

    def redact_tree(self, node: Any) -> Any:
        """A copy of a plain tree (dicts, lists, scalars: settings, metadata) with secret keys and URLs masked."""
        if isinstance(node, dict):
            return {k: self.masked(v) if self.secret_key(k) else self.redact_tree(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [self.redact_tree(v) for v in node]
        if isinstance(node, str):
            return self.mask_urls(node)
        return node


DEFAULT_REDACTOR = Redactor()


def redactor_from_settings(project: dict) -> Redactor | None:
    """The Redactor for a ``project`` settings section: None when ``redact_secrets`` is false; the shared default
    when no extra ``secret_keys`` are given. Called when a run starts and when a settings snapshot is taken."""
    if project.get("redact_secrets", True) is False:
        return None
    extra = check_secret_keys(project.get("secret_keys"))
    return Redactor(extra) if extra else DEFAULT_REDACTOR


_process_redactor: tuple[Any, Redactor | None] = (None, None)


def mask_command_line(argv: Any) -> Any:
    """A process command line with secret options and URL passwords masked, under the process settings'
    ``project.redact_secrets`` / ``project.secret_keys``. Called when telemetry reads process_info."""
    global _process_redactor
    from flowcept_core.settings import get_settings

    settings = get_settings()
    if _process_redactor[0] is not settings:
        try:
            _process_redactor = (settings, redactor_from_settings(settings.section("project")))
        except ValueError:
            _process_redactor = (settings, DEFAULT_REDACTOR)
    redactor = _process_redactor[1]
    return redactor.mask_argv(argv) if redactor is not None else argv
