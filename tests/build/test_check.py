"""make check's own guard: a hung test fails its stage (with the hung
test's stack printed) instead of running into CI's time limit."""
import textwrap

from build import check


def test_a_hung_pytest_stage_is_interrupted_and_fails(tmp_path, monkeypatch, capfd):
    hung = tmp_path / "test_hung.py"
    hung.write_text(textwrap.dedent("""\
        import time

        def test_passes():
            assert True

        def test_hangs():
            time.sleep(600)
        """))
    monkeypatch.setitem(check.STAGE_LIMIT, "hung", 6)
    monkeypatch.setattr(check, "TEST_STACK_DUMP", 2)
    counts = check.pytest(check.PY3, [str(hung)], "hung")
    out = capfd.readouterr()
    assert (counts.passed, counts.failed) == (1, 1)
    assert counts.note == "interrupted after 6 s"
    assert "TIMEOUT: pytest hung ran over 6 s" in out.out
    assert "in test_hangs" in out.err + out.out
