"""tests/e2e/phases.py, the bench's recorder of where nova's spawn goes:
it wraps functions by import path (module functions, methods, static
methods), counts a nested call of the same phase once, and names what a
tree lacks instead of guessing. A real module written to tmp_path."""
import sys
import textwrap
import time

import pytest

from tests.e2e import phases

MODULE = textwrap.dedent('''
    import time

    def leaf(seconds):
        time.sleep(seconds)
        return seconds

    def outer(seconds):
        return leaf(seconds) + leaf(seconds)

    class Thing(object):
        def method(self, seconds):
            return outer(seconds)

        @staticmethod
        def static(seconds):
            return leaf(seconds)
''')


@pytest.fixture
def module(tmp_path):
    (tmp_path / "nlc_phases_probe.py").write_text(MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        import nlc_phases_probe
        yield nlc_phases_probe
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("nlc_phases_probe", None)


def test_spans_of_module_functions_and_methods(module):
    rec = phases.Recorder([("leaf", "nlc_phases_probe", "leaf"),
                           ("outer", "nlc_phases_probe", "outer"),
                           ("method", "nlc_phases_probe", "Thing.method"),
                           ("static", "nlc_phases_probe", "Thing.static")])
    assert module.Thing().method(0.01) == 0.02        # results pass through
    assert module.Thing.static(0.01) == 0.01
    spans = rec.take()
    assert [s[0] for s in spans] == ["leaf", "leaf", "outer", "method", "leaf",
                                     "static"]
    totals = phases.totals(spans)
    assert totals["leaf"] >= 0.03 and totals["method"] >= totals["outer"] >= 0.02
    assert phases.last_end(spans, "static") == spans[-1][2]
    assert rec.take() == []


def test_a_nested_call_of_the_same_phase_counts_once(module):
    rec = phases.Recorder([("work", "nlc_phases_probe", "outer"),
                           ("work", "nlc_phases_probe", "leaf")])
    t0 = time.time()
    module.outer(0.02)
    spans = rec.take()
    assert len(spans) == 1 and spans[0][0] == "work"
    assert 0.04 <= spans[0][2] - spans[0][1] <= time.time() - t0


def test_what_the_tree_lacks_is_named(module):
    rec = phases.Recorder([("gone", "nlc_phases_probe", "Thing.gone"),
                           ("nomodule", "nlc_no_such_module", "f")])
    assert rec.missing == ["nlc_phases_probe:Thing.gone", "nlc_no_such_module:f"]
