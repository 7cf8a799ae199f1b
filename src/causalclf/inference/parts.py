"""The unfinished run beside an output file: one part file per committed chunk, and a manifest.

    OUT.parts/manifest.json           what the run is (model, input, settings), written once
    OUT.parts/part-00000012.parquet   the predictions of input chunk 12, its counts in the metadata

Why a kill (SIGKILL included) loses and repeats nothing: every file here is written under a
temporary name, flushed to disk (fsync) and then renamed into place, and a rename is atomic.
So a part under its final name is complete, and the committed chunks are exactly the parts
present: a resumed run predicts the other chunks (chunk k is always the same input rows, see
`sources`), and the merge writes parts 0, 1, ... in order, each once. The merge itself writes
a temporary file renamed onto OUT, and the folder is removed only after that: a kill during
the merge leaves every part in place for the next resume.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from causalclf.atomic import TEMPORARY, atomic_write
from causalclf.inference.sources import Counts

MANIFEST = "manifest.json"
PART = "part-{:08d}.parquet"
COUNTS_KEY = b"causalclf.counts"


def parts_folder(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


class RunFolder:
    """The parts and manifest of one run writing `output`."""

    def __init__(self, output: Path):
        self.output = output
        self.path = parts_folder(output)

    def exists(self) -> bool:
        return (self.path / MANIFEST).is_file()

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / MANIFEST).read_text())

    def start(self, manifest: dict[str, Any]) -> None:
        """A new run: the folder and its manifest (an existing folder is emptied first)."""
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir()
        atomic_write(self.path / MANIFEST, lambda f: f.write(json.dumps(manifest, indent=2).encode()))

    def clean(self) -> None:
        """Drops what a killed process was still writing (a temporary file is never a commit)."""
        for tmp in self.path.glob("*" + TEMPORARY):
            tmp.unlink()

    def done(self) -> set[int]:
        """The committed chunks."""
        return {int(p.stem.split("-")[1]) for p in self.path.glob("part-*.parquet")}

    def commit(self, index: int, table: pa.Table, counts: Counts) -> None:
        import pyarrow.parquet as pq

        table = table.replace_schema_metadata({COUNTS_KEY: json.dumps(counts.__dict__).encode()})
        atomic_write(self.path / PART.format(index), lambda f: pq.write_table(table, f))

    def parts(self, n_chunks: int) -> Iterator[tuple[pa.Table, Counts]]:
        """Each chunk's predictions and counts, in input order."""
        import pyarrow.parquet as pq

        for index in range(n_chunks):
            path = self.path / PART.format(index)
            if not path.is_file():  # every process has finished: a missing part is a bug, never a gap to skip
                raise RuntimeError(
                    f"{path} is missing after every process finished; nothing was written to "
                    f"{self.output}; rerun with --resume to predict that chunk again"
                )
            table = pq.read_table(path)
            yield table, Counts(**json.loads(table.schema.metadata[COUNTS_KEY]))

    def finish(self, write: Callable[[IO[bytes]], None]) -> None:
        """Writes the output atomically (`write` gets the open file), then removes the parts."""
        atomic_write(self.output, write, tmp=self.path / ("output" + TEMPORARY))
        shutil.rmtree(self.path)
