"""`TrainingConfig`: the optimisation settings of every trainable method (the ``training:`` section)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from causalclf.fields import check_fields, fraction, non_negative, positive


@dataclass
class TrainingConfig:
    """Optimisation settings shared by every trainable method."""

    epochs: float = field(
        default=3.0, metadata={"help": "Passes over the training set (fractions allowed).", "check": positive}
    )
    batch_size: int = field(default=8, metadata={"help": "Examples per device step.", "check": positive})
    gradient_accumulation_steps: int = field(
        default=1,
        metadata={"help": "Steps whose gradients are summed before each optimizer update.", "check": positive},
    )
    learning_rate: float = field(
        default=2e-4, metadata={"help": "Peak learning rate (AdamW), reached after warm-up.", "check": non_negative}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay.", "check": non_negative})
    warmup_ratio: float = field(
        default=0.06,
        metadata={"help": "Share of the updates spent warming the learning rate up from 0.", "check": fraction},
    )
    scheduler: str = field(
        default="linear",
        metadata={
            "help": "Learning-rate schedule after warm-up (any transformers scheduler name, e.g. linear, cosine, "
            "constant)."
        },
    )
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many updates (overrides `epochs` when > 0)."})
    min_steps: int = field(
        default=0,
        metadata={
            "help": "Train for at least this many updates: on a small training set `epochs` is raised until it holds "
            "(a few dozen updates leave a head or an adapter barely trained, whatever the epochs).",
            "check": non_negative,
        },
    )
    eval_steps: int | None = field(
        default=None,
        metadata={
            "help": "Evaluate on validation every this many updates; null evaluates once per epoch.",
            "check": positive,
        },
    )
    early_stopping_patience: int | None = field(
        default=2,
        metadata={
            "help": "Stop after this many evaluations without improvement; null never stops early.",
            "check": positive,
        },
    )
    seed: int = field(default=42, metadata={"help": "Seed for weight initialisation, shuffling and dropout."})
    logging_steps: int = field(
        default=10, metadata={"help": "Log the training loss every this many updates.", "check": positive}
    )
    group_by_length: bool = field(
        default=True, metadata={"help": "Batch texts of similar length together (less padding, faster on CPU)."}
    )
    progress_bar: bool = field(default=True, metadata={"help": "Show a tqdm progress bar."})
    max_restarts: int = field(
        default=1,
        metadata={
            "help": "Rebuild and retrain with a new seed (seed + 1000 per restart) at most this many times when a run "
            "collapses (its best validation macro-F1 is within 0.02 of the best constant prediction; needs "
            "validation data) or diverges (its loss or gradient norm becomes NaN or infinite); 0 turns it off.",
            "check": non_negative,
        },
    )
    checkpoint_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where checkpoints go, to resume an interrupted training: the trainable weights (adapters and "
            "heads, never a frozen backbone), the optimizer, scheduler and RNG states, the data position and "
            "the best-on-validation state. null writes none; causalclf train and compare default it to "
            "<output_dir>/checkpoints, deleted once the run is written."
        },
    )
    checkpoint_steps: int | None = field(
        default=None,
        metadata={
            "help": "With a checkpoint_dir: save every this many updates (and on SIGTERM); null saves once per epoch.",
            "check": positive,
        },
    )
    keep_checkpoints: int = field(
        default=2,
        metadata={"help": "How many of the newest checkpoints are kept; older ones are deleted.", "check": positive},
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue from the newest checkpoint in checkpoint_dir (causalclf train --resume). false refuses a "
            "checkpoint_dir that already holds checkpoints rather than overwrite or reuse them."
        },
    )

    @classmethod
    def coerce(cls, value: TrainingConfig | Mapping | None) -> TrainingConfig:
        """A TrainingConfig from itself, a mapping of its keys (checked) or None (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, TrainingConfig):
            return value
        check_fields(cls, value, "training")
        return cls(**value)

    def to_training_arguments(self, output_dir: str, n_rows: int, bf16: bool = False, cpu: bool = False):
        """These settings as transformers' `TrainingArguments` for `n_rows` training rows, checkpointing into
        `output_dir` when `checkpoint_dir` is set (no evaluation strategy: `training.BestOnValidation` picks the
        best weights itself). `cpu`: the model is on the CPU, where several processes (torchrun, accelerate
        launch) train with DDP over gloo."""
        import torch
        from transformers import TrainingArguments

        if self.checkpoint_dir is None:
            save = {"save_strategy": "no"}
        elif self.checkpoint_steps:
            save = {"save_strategy": "steps", "save_steps": self.checkpoint_steps}
        else:
            save = {"save_strategy": "epoch"}
        return TrainingArguments(
            output_dir=output_dir,
            num_train_epochs=self.epochs_for(n_rows),
            max_steps=self.max_steps,
            per_device_train_batch_size=self.batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            warmup_steps=self.warmup_ratio,
            lr_scheduler_type=self.scheduler,
            logging_steps=self.logging_steps,
            seed=self.seed,
            **save,
            save_total_limit=self.keep_checkpoints,
            eval_strategy="no",
            report_to=[],
            disable_tqdm=not self.progress_bar,
            remove_unused_columns=False,
            # A NaN or infinite loss must reach the logs, where `training.TrainingHealth` stops the run on it
            # (the Trainer would otherwise log the running mean in its place).
            logging_nan_inf_filter=False,
            train_sampling_strategy="group_by_length" if self.group_by_length else "random",
            dataloader_pin_memory=torch.cuda.is_available(),
            bf16=bf16,
            use_cpu=cpu,
        )

    def epochs_for(self, n_rows: int) -> float:
        """`epochs`, raised so that at least `min_steps` updates happen on `n_rows` rows."""
        per_epoch = -(-n_rows // self.batch_size) // max(self.gradient_accumulation_steps, 1)
        if self.min_steps <= 0 or per_epoch == 0:
            return self.epochs
        return max(self.epochs, self.min_steps / per_epoch)
