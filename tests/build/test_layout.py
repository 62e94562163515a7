"""build/'s shape: only build/series/ knows the series by name.

Every series of build/pins.toml is named in its recipe (build/series/<name>.py)
and nowhere else in build/'s code: a generic step that compared against a
series' name would have to be found and changed for every new series.

What counts is the code: identifiers, imported names and string literals.
Comments and docstrings may name a series as an example (they are prose, and
no step branches on them), so they are not searched.
"""
import ast
from pathlib import Path

from build import pins
from build.cache import TOP


def _docstrings(tree):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def code_words(source):
    """(line, text) of every identifier and string literal of SOURCE that is
    not a docstring."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docs:
                yield node.lineno, node.value
        elif isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.lineno, node.name
        elif isinstance(node, ast.arg):
            yield node.lineno, node.arg
        elif isinstance(node, ast.alias):
            yield getattr(node, "lineno", 0), node.name + " " + (node.asname or "")
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module or ""


def generic_modules():
    return sorted(p for p in (TOP / "build").rglob("*.py")
                  if (TOP / "build" / "series") not in p.parents)


def series_mentions(names, paths):
    hits = []
    for path in paths:
        for line, text in code_words(Path(path).read_text()):
            for name in names:
                if name.lower() in text.lower():
                    hits.append("%s:%d: %r" % (Path(path).name, line, text))
    return hits


def test_no_generic_build_module_names_a_series():
    names = pins.series_names()
    assert len(names) >= 2 and generic_modules()
    assert series_mentions(names, generic_modules()) == []


def test_the_check_sees_code_but_not_prose(tmp_path):
    """The check itself: a name in code is found, in a comment or docstring not."""
    sample = tmp_path / "sample.py"
    sample.write_text('"""The icehouse example."""\n'
                      '# bookworm in a comment\n'
                      'def f():\n'
                      '    """bookworm in a docstring"""\n'
                      '    return g("bookworm")\n'
                      'from build.series import icehouse\n')
    hits = series_mentions(["icehouse", "bookworm"], [sample])
    assert sorted(h.split(":", 2)[1] for h in hits) == ["5", "6"], hits


def header_paragraphs(patch_text):
    """The paragraphs of a DEP-3 header's Description (summary line first)."""
    header = []
    for line in patch_text.split("\n"):
        if line.startswith(("---", "diff ", "Index:")):
            break
        header.append(line)
    paras, current = [], []
    for line in header:
        if line.startswith("Description:"):
            current = [line[len("Description:"):].strip()]
        elif current and line == " .":
            paras.append("\n".join(current))
            current = [""]
        elif current and line.startswith(" "):
            current.append(line)
        elif current:
            paras.append("\n".join(current))
            current = []
    return [p.strip() for p in paras if p.strip()]


def test_what_series_share_in_a_patch_header_is_said_once():
    """A patch that several series carry says its common design once, in
    patches/design/<name>.txt, which each header names; no paragraph of
    one series' header is repeated in another's."""
    by_name = {}
    for series in pins.series_names():
        for patch in pins.patch_series(series):
            by_name.setdefault(patch.name, []).append((series, patch.text()))
    shared = {n: v for n, v in by_name.items() if len(v) > 1}
    assert shared
    for name, copies in shared.items():
        seen = {}
        for series, text in copies:
            for para in header_paragraphs(text)[1:]:       # the summary may repeat
                assert para not in seen, "%s: %s repeats %s's paragraph %r" % (
                    name, series, seen.get(para), para[:60])
                seen[para] = series
        design = pins.PATCHES / "design" / (name[:-len(".patch")] + ".txt")
        for series, text in copies:
            if "patches/design/" in text.split("\n---", 1)[0]:
                assert design.is_file(), design
