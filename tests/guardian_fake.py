"""A guardian module for tests (``python -m guardian_fake``): its cancel appends a line to ``settings["record"]`` and
reports ``settings["rests"]`` orders still resting for that many calls, then none."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from botmm.runners.guardian import Canceller, serve


def make_canceller(settings: dict[str, Any]) -> Canceller:
    record = Path(settings["record"])
    calls = [0]

    def cancel() -> int:
        calls[0] += 1
        with record.open("a") as out:
            out.write("cancel\n")
        return 1 if calls[0] <= int(settings.get("rests", 0)) else 0

    return cancel


if __name__ == "__main__":
    sys.exit(serve(make_canceller))
