"""The causalclf command line, interrupted at a chosen update, or with FSDP2 on CPU processes.

    python -m tests.training.harness [--signal-at STEP SIGNAL] [--fsdp-on-cpu] -- causalclf-arguments...

``--signal-at``: at the end of update STEP (before that update is checkpointed) the process
sends itself SIGNAL (KILL or TERM): a SIGKILL ends it on the spot, as the OOM killer or a
lost machine would; a SIGTERM is what a scheduler sends before it ends a job.

``--fsdp-on-cpu`` (under ``torch.distributed.run``, with the environment ``accelerate launch
--config_file configs/accelerate/fsdp.yaml`` sets): torch shards over gloo on CPU, but
accelerate (1.15) turns FSDP on for accelerators only, so on CPU processes its state stays
MULTI_CPU and the Trainer would run DDP. Here the state takes the FSDP plugin the environment
describes, and the Trainer prepares the model with FSDP2 exactly as on GPUs: causalclf's FSDP
paths (gathered weights, validation through the sharded model, the unsharded copy, resume)
run without a GPU. A test harness, not a supported way to train.
"""

import argparse
import os
import signal
import sys

from transformers import TrainerCallback, trainer


class SignalAt(TrainerCallback):
    def __init__(self, step: int, signum: int):
        self.step, self.signum = step, signum

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def allow_fsdp_on_cpu() -> None:
    import accelerate.state
    from accelerate.utils import DistributedType

    init = accelerate.state.AcceleratorState.__init__

    def fsdp_on_cpu(self, *args, fsdp_plugin=None, **kwargs):
        init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type, self.fsdp_plugin = DistributedType.FSDP, fsdp_plugin

    accelerate.state.AcceleratorState.__init__ = fsdp_on_cpu


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--signal-at", nargs=2, metavar=("STEP", "SIGNAL"))
    parser.add_argument("--fsdp-on-cpu", action="store_true")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    if options.signal_at:
        step, name = options.signal_at
        # Every Trainer starts with the default callbacks, this one first: it runs before causalclf's own.
        trainer.DEFAULT_CALLBACKS.insert(0, SignalAt(int(step), getattr(signal, f"SIG{name}")))
    if options.fsdp_on_cpu:
        allow_fsdp_on_cpu()
    from causalclf.cli import main

    sys.exit(main(options.argv[1:] if options.argv[:1] == ["--"] else options.argv))
