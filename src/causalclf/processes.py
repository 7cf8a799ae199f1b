"""The process layout, decided once per process: which process this is, how many there are, the barrier.

A lone process (no launcher) is rank 0 of 1 and imports nothing. Under a launcher (WORLD_SIZE > 1:
``accelerate launch --multi_gpu --num_processes N``, ``torchrun --nproc_per_node N``) accelerate's
`PartialState` joins the process group: NCCL on GPUs (it also sets this process's device), gloo on
CPUs, which it joins only when told to (``accelerate launch --cpu`` sets ACCELERATE_USE_CPU; torchrun
sets nothing, and without CUDA there is nothing else to join on). Processes sharing one machine's
CPUs split its cores between them, unless OMP_NUM_THREADS says otherwise: two processes each
spinning every core made a LoRA step 30x slower on 2 cores.

Training, experiments and prediction all ask `current()`; only the main process writes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world: int = 1
    state: Any = None
    """accelerate's `PartialState` under a launcher; None for a lone process."""

    @property
    def is_main(self) -> bool:
        """Whether this process is the one that writes (always, outside a launcher)."""
        return self.rank == 0

    def wait(self) -> None:
        """Returns once every process has called it."""
        if self.state is not None:
            self.state.wait_for_everyone()

    def from_main(self, value):
        """`value` as the main process holds it, on every process."""
        if self.state is None:
            return value
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([value])[0]

    def share(self, items: Sequence) -> list:
        """This process's part of `items`: every `world`-th one, from its rank."""
        return list(items[self.rank :: self.world])

    def close(self) -> None:
        """Leaves the process group (torch warns at exit about a group left open)."""
        import torch.distributed as dist

        if self.state is not None and dist.is_initialized():
            dist.destroy_process_group()


@functools.cache
def current() -> Processes:
    """This process's place among the processes of the run (see the module docs)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Processes()
    import torch
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available()
    state = PartialState(cpu=cpu)
    if cpu and "OMP_NUM_THREADS" not in os.environ:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", state.num_processes))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    return Processes(state.process_index, state.num_processes, state)
