"""A workflow script's job writes everything to its log file, nothing to the console."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_logging_warnings_native_writes_and_exceptions_reach_the_log(tmp_path):
    log = tmp_path / "job.log"
    script = textwrap.dedent(f"""
        import os, warnings
        from egcalib.core.logs import log_to_file
        log = log_to_file({str(log)!r})
        log.info("a logged message")
        os.write(2, b"a compiled library writing to descriptor 2\\n")
        warnings.warn("a library warning")
        raise RuntimeError("the job failed")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == ""
    text = log.read_text()
    for expected in (
        "INFO egcalib: a logged message",
        "a compiled library writing to descriptor 2",
        "UserWarning: a library warning",
        "RuntimeError: the job failed",
    ):
        assert expected in text, expected
    # Appended, in the order written.
    assert text.index("a logged message") < text.index("descriptor 2") < text.index("failed")
