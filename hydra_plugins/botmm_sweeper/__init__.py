"""botmm's default Hydra sweeper (``hydra/sweeper=botmm``): Hydra's basic sweeper, without its second composition of
the jobs that ``botmm -m`` has already composed and checked.

Hydra composes every job of a batch in the launching process before it starts any, to fail early. By then the botmm
CLI has composed each swept value and built its components (:func:`botmm.job_commands.launch`), and a composition costs
about 0.1 s, paid one job after another while no job runs: a twelve-job sweep waited over a second for checks
already made. Jobs the CLI did not check (the rest of a grid, ``hydra.sweeper.params``) are still composed here.

Hydra loads plugins only from the ``hydra_plugins`` namespace package, hence this package's place; its config node
is stored with botmm's own (:mod:`botmm.config`), and the CLI registers the class with Hydra, which does not find
plugins of an editable install.
"""

# no "from __future__ import annotations": Hydra executes plugin modules without putting them in sys.modules, where
# dataclasses would look to resolve string annotations
from typing import ClassVar, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


class BotmmSweeper(BasicSweeper):
    checked: ClassVar[set[frozenset[str]]] = set()
    """The override sets of the jobs the CLI composed and checked, as Hydra writes a job's overrides."""

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        super().validate_batch_is_legal([job for job in batch if frozenset(job) not in self.checked])
