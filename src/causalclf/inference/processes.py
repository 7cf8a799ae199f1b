"""The processes sharing one prediction run: one, or those of `accelerate launch` / `torchrun`.

Under a launcher (WORLD_SIZE > 1 in the environment: `accelerate launch --multi_gpu
--num_processes N`, or `torchrun --nproc_per_node N`) accelerate's `PartialState` joins the
process group (gloo on CPU, NCCL on GPUs, where it also sets this process's device), and
`wait_for_everyone` is the barrier. (`accelerate launch --cpu` starts several CPU processes
only through mpirun; torchrun, or --multi_gpu, starts them on a machine without GPUs too.)
The chunks still to predict are dealt out in turn (`share`), so the processes finish within
about one chunk of each other, whatever a resumed run had already done.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass
class Processes:
    rank: int = 0
    world: int = 1
    state: Any = None
    """accelerate's `PartialState` under a launcher; None for a lone process."""

    @classmethod
    def current(cls) -> Processes:
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return cls()
        import torch
        from accelerate import PartialState
        from accelerate.utils import parse_flag_from_env

        # PartialState joins CPU processes (gloo) only when told to: accelerate launch --cpu sets the flag,
        # torchrun sets nothing, and without CUDA there is nothing else to join on.
        cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available()
        state = PartialState(cpu=cpu)
        return cls(state.process_index, state.num_processes, state)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wait(self) -> None:
        """Returns once every process has called it."""
        if self.state is not None:
            self.state.wait_for_everyone()

    def share(self, chunks: Sequence[int]) -> list[int]:
        """This process's chunks: every `world`-th of `chunks`, from its rank."""
        return list(chunks[self.rank::self.world])

    def close(self) -> None:
        """Leaves the process group (torch warns at exit about a group left open)."""
        import torch.distributed as dist

        if self.state is not None and dist.is_initialized():
            dist.destroy_process_group()
