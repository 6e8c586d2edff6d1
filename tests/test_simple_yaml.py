"""flowcept_core.simple_yaml: the same result as yaml.safe_load, or None ("not handled"), never a different one."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from flowcept_core.simple_yaml import load

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install -e '.[test]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("FLOWCEPT_YAML_EXAMPLES", "200"))


def same(a, b) -> bool:
    """Equality that tells bool from int, int from float and -0.0 from 0.0 (and nan equals nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(k, k2) and same(a[k], b[k2]) for k, k2 in zip(a, b, strict=True))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def check(text: str):
    """load(text) is None, or what safe_load returns (and safe_load must not fail then); returns load's result."""
    got = load(text)
    if got is not None:
        expected = yaml.safe_load(text)
        assert same(got, expected), f"{text!r}: {got!r} != {expected!r}"
    return got


# ---- documents from the subset, with scalars and keys that are in it ---------------------------------------------

WORDS = frozenset("yes no on off true false null".split())
SAFE_KEY = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,8}", fullmatch=True).filter(lambda k: k.lower() not in WORDS)
SAFE_STR = st.from_regex(r"[A-Za-z_/][A-Za-z0-9_./@+-]{0,10}", fullmatch=True).filter(lambda s: s.lower() not in WORDS)
QUOTABLE = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Zl", "Zp"), exclude_characters="\ufeff"),
    max_size=8,
)
SPECIAL = "~ null Null NULL yes No TRUE off On false 0 -0 +7 1. 0.0.0.0 127.0.0.1 1.2.3 redis://h:6379/0 a__b /tmp/x"


def _float_text(x: float) -> str:
    text = repr(x)
    if "e" in text:
        mant, exp = text.split("e")
        mant = mant if "." in mant else mant + ".0"
        text = f"{mant}e{'' if exp[0] in '+-' else '+'}{exp}"
    return text


SAFE_SCALAR = st.one_of(
    st.sampled_from([*SPECIAL.split(), "a b  c", "user@host"]),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(_float_text),
    SAFE_STR,
    QUOTABLE.filter(lambda s: "'" not in s).map(lambda s: f"'{s}'"),
    QUOTABLE.filter(lambda s: '"' not in s and "\\" not in s).map(lambda s: f'"{s}"'),
)
SAFE = {
    "scalar": SAFE_SCALAR,
    "flow_scalar": SAFE_SCALAR.filter(lambda s: s[0] in "'\"" or " " not in s),
    "key": SAFE_KEY,
    "comment": st.sampled_from(["", "", "", "  # note", " #x: 'y' {"]),
}


@st.composite
def flow(draw, parts, depth=0):
    scalar = parts["flow_scalar"]
    items = draw(st.lists(scalar if depth else st.one_of(scalar, flow(parts, depth=1)), max_size=4))
    sep = draw(st.sampled_from([", ", ",", " , "]))
    if draw(st.booleans()):
        keys = draw(st.lists(parts["key"], min_size=len(items), max_size=len(items), unique=True))
        return "{" + sep.join(f"{k}: {v}" for k, v in zip(keys, items, strict=True)) + "}"
    return "[" + sep.join(items) + "]"


@st.composite
def block(draw, parts, indent=0, depth=0):
    """A block mapping at column ``indent``: its lines."""
    step = draw(st.sampled_from([1, 2, 4]))
    lines: list[str] = []
    for key in draw(st.lists(parts["key"], min_size=1, max_size=5, unique=True)):
        pad = " " * indent
        if draw(st.booleans()):
            lines.append(pad + "# " + draw(QUOTABLE))
        kind = draw(st.sampled_from(["scalar", "flow", "map", "list", "indentless", "empty"][: 6 if depth < 3 else 2]))
        if kind == "scalar":
            lines.append(f"{pad}{key}: {draw(parts['scalar'])}{draw(parts['comment'])}")
        elif kind == "flow":
            lines.append(f"{pad}{key}: {draw(flow(parts))}{draw(parts['comment'])}")
        elif kind == "map":
            lines.append(f"{pad}{key}:{draw(parts['comment'])}")
            lines += draw(block(parts, indent + step, depth + 1))
        elif kind in ("list", "indentless"):
            lines.append(f"{pad}{key}:")
            at = pad if kind == "indentless" else " " * (indent + step)
            for item in draw(st.lists(st.one_of(parts["scalar"], flow(parts)), min_size=1, max_size=3)):
                lines.append(f"{at}- {item}{draw(parts['comment'])}")
        else:
            lines.append(f"{pad}{key}:")
        if draw(st.booleans()):
            lines.append("")
    return lines


@st.composite
def document(draw, parts=SAFE):
    lines = draw(block(parts))
    if draw(st.booleans()):
        lines.insert(0, draw(st.sampled_from(["---", "# settings", ""])))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


# ---- near misses: the same documents with scalars, keys and comments from a broad alphabet, and random edits -----

CHARS = [*"aZy_09-+.:# '\"/@&*!|>%[]{},?~=<\\\t\r\n", "é", "\xa0", "\x85", "\u2028", "\ufeff"]
TRICKY = [
    *"""0 00 012 0o17 0x1F 0b11 1_000 1.5 .5 1e5 1.0e5 1.0e+5 1.0E-3 -.5 .inf -.Inf .NaN 2020-01-01
2001-12-14t21:59:43.1Z 1:30 190:20:30.15 ~ << = y n Yes yES oN NuLL a: a:b : - ? &x *x !!str | > 'it''s' "a\\tb"
{a:1} [a:1] {a:{b:[c]}} [a,] a#b # @x `x %x ' " [ ] { } ,""".split(),
    *["a b", "a: b", "x:", " ", "\t", "", "a\n b", "- a", "? a", "'a' b"],
]
FRAGMENT = st.one_of(st.sampled_from(TRICKY), st.sampled_from(CHARS), SAFE_STR, st.integers(-99, 99).map(str))
RAW_SCALAR = st.one_of(SAFE_SCALAR, st.lists(FRAGMENT, min_size=1, max_size=3).map("".join))
RAW = {
    "scalar": RAW_SCALAR,
    "flow_scalar": RAW_SCALAR,
    "key": st.one_of(SAFE_KEY, SAFE_KEY, RAW_SCALAR),
    "comment": st.one_of(SAFE["comment"], st.lists(FRAGMENT, max_size=2).map("".join)),
}


@st.composite
def near_miss(draw):
    text = draw(document(draw(st.sampled_from([SAFE, RAW, RAW]))))
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "dup_line", "indent"]))
        if op == "insert":
            text = text[:pos] + draw(FRAGMENT) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 3)) :]
        else:
            lines = text.split("\n")
            n = draw(st.integers(0, len(lines) - 1))
            lines[n : n + 1] = [lines[n], lines[n]] if op == "dup_line" else [" " + lines[n]]
            text = "\n".join(lines)
    return text


PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@PROPERTY
@given(document())
def test_documents_of_the_subset_are_read_as_pyyaml_reads_them(text):
    got = check(text)
    assert got is not None or "\t" in text, f"not handled: {text!r}"


@PROPERTY
@given(near_miss())
def test_near_misses_are_not_handled_or_read_the_same(text):
    check(text)


SHAPES = ["a: S", "a: S  # c", "a: [S]", "a: [x, S]", "a: {k: S}", "a: [[S], S]", "a:\n- S", "a:\n  b: S\nc: 1"]


@PROPERTY
@given(st.lists(FRAGMENT, min_size=1, max_size=4).map("".join), st.sampled_from(SHAPES))
def test_one_scalar_near_miss_is_not_handled_or_read_the_same(scalar, shape):
    check(shape.replace("S", scalar))


# ---- examples -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: 1\nb: 1.5\nc: yes\nd: ~\ne:\nf: '007'\ng: \"x # y\"",
            {"a": 1, "b": 1.5, "c": True, "d": None, "e": None, "f": "007", "g": "x # y"},
        ),
        (
            "dump_buffer: {enabled: false, path: unused.jsonl}  # c\nx: []\ny: {}",
            {"dump_buffer": {"enabled": False, "path": "unused.jsonl"}, "x": [], "y": {}},
        ),
        (
            "---\nmq:\n  host: 0.0.0.0\n  uri: redis://h:6379/0\nl:\n- a b\n- [1, {k: v}]\nz:\n  - -3",
            {"mq": {"host": "0.0.0.0", "uri": "redis://h:6379/0"}, "l": ["a b", [1, {"k": "v"}]], "z": [-3]},
        ),
    ],
)
def test_examples_are_read(text, expected):
    assert same(check(text), expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        "- a\n- b",
        "plain",
        "a: 1\na: 2",
        "a: 2020-01-01",
        "a: 012",
        "a: 1e3",
        "a: .inf",
        "a: &x 1\nb: *x",
        "a: !!str 1",
        "a: |\n  x",
        "a: b\n  c",
        "a:\n    b: 1\n  c: 2",
        "on: 1",
        "a: 1\n...",
        "\ufeffa: 1",
        "a: 1\r\n",
        "a:\tb",
        "? a\n: b",
        "a: 'it''s'",
        'a: "a\\tb"',
        "a: [1, 2,]",
        "a: {b: [c, [d]]}",
        "a: {b: }",
        "a: x: y",
        "a: b:",
        "a: '1' x",
        "  a: 1",
        "%YAML 1.1\n---\na: 1",
        "a: 1\n---\nb: 2",
    ],
)
def test_outside_the_subset_is_not_handled(text):
    assert load(text) is None


def _documented_settings() -> list[str]:
    """Settings files the project writes or documents: init-settings output and the yaml blocks of the docs."""
    texts = []
    for doc in ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]:
        for block_text in re.findall(r"```yaml\n(.*?)```", (ROOT / doc).read_text(encoding="utf-8"), re.S):
            texts.append(textwrap.dedent(block_text))
    return texts


def test_documented_settings_are_read_as_pyyaml_reads_them():
    texts = _documented_settings()
    assert texts
    assert all(check(t) is not None for t in texts)


def test_init_settings_output_is_read(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "FLOWCEPT_SETTINGS_PATH": ""}
    for flags in ([], ["--dask", "--mlflow", "--tensorboard"]):
        path = tmp_path / "settings.yaml"
        subprocess.run(
            [sys.executable, "-m", "flowcept_core.cli", "init-settings", str(path), "--force", *flags],
            check=True,
            env=env,
            capture_output=True,
        )
        text = path.read_text(encoding="utf-8")
        assert check(text) is not None, text


def test_a_handled_settings_file_does_not_import_pyyaml(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("project:\n  dump_buffer: {enabled: false, path: unused.jsonl}\nmq:\n  type: memory\n")
    code = (
        "import sys\nfrom flowcept import Flowcept\nfc = Flowcept()\nfc.start()\nfc.stop()\n"
        "from flowcept_core.settings import get_settings\n"
        "assert get_settings().source == sys.argv[1], get_settings().source\n"
        "print('yaml' in sys.modules)\n"
    )
    env = {**os.environ, "FLOWCEPT_SETTINGS_PATH": str(path), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
