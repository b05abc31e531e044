"""Data source ``memory``: a ``datasets.Dataset`` or ``DatasetDict`` given to the Python API.

``hf_transfer.train(recipe, dataset=my_dataset_dict)``; a bare ``Dataset`` is the train split.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DataError
from ..registry import DATA_SOURCES
from . import DataSource, LoadContext


@DATA_SOURCES.register("memory")
@dataclass
class MemorySource(DataSource):
    def load(self, ctx: LoadContext):
        from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict

        ds = ctx.dataset
        if isinstance(ds, IterableDataset):
            return IterableDatasetDict({"train": ds})
        if isinstance(ds, IterableDatasetDict):
            return ds
        if ds is None:
            raise DataError(
                "data.source is 'memory' but no dataset was given; pass one from Python: "
                "hf_transfer.train(recipe, dataset=my_dataset), or use the hub, files or imagefolder source"
            )
        if isinstance(ds, Dataset):
            return DatasetDict({"train": ds})
        if isinstance(ds, DatasetDict):
            return ds
        if isinstance(ds, dict) and all(isinstance(v, Dataset) for v in ds.values()):
            return DatasetDict(ds)
        raise DataError(
            f"dataset= must be a datasets.Dataset, DatasetDict or IterableDataset(Dict), found {type(ds).__name__}"
        )
