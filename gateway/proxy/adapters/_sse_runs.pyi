"""The C extension built from _sse_runs.c (setup.py); absent from the Python build."""

def openai_run(
    buffer: bytes, needle: bytes, replacement: bytes, /
) -> tuple[bytes | None, int, int]: ...
