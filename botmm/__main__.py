"""``python -m botmm``: the same as the ``botmm`` command."""

from botmm.cli import main

main()
