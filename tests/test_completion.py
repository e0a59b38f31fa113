"""Shell completion of overrides goes through click and asks Hydra's completion engine."""

import os
import subprocess
import sys


def _complete(line: str) -> list[str]:
    words = line.split(" ")
    env = {**os.environ, "_BOTMM_COMPLETE": "bash_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    out = subprocess.run([sys.executable, "-m", "botmm"], env=env, capture_output=True, text=True, check=True)
    return [item.split(",", 1)[1] for item in out.stdout.split()]


def test_completes_groups_options_and_nested_keys():
    assert "quoter=" in _complete("botmm backtest quo")
    assert _complete("botmm backtest asset=") == ["asset=btc", "asset=eth", "asset=sol"]
    assert "quoter.spread_bps=" in _complete("botmm backtest quoter.sp")
    assert "exchange=paper" in _complete("botmm run exchange=")
