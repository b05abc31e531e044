"""Data source ``hub``: a dataset on the Hugging Face Hub (or its local cache)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DataError
from ..registry import DATA_SOURCES
from ..schema import field
from . import DataSource, LoadContext


@DATA_SOURCES.register("hub")
@dataclass
class HubSource(DataSource):
    dataset: str = field(help="Hub dataset id, e.g. stanfordnlp/imdb")
    config_name: str | None = field(None, help="dataset configuration (subset) name")
    revision: str | None = field(None, help="branch, tag or commit of the dataset repo")

    def validate(self, prefix: str) -> list[str]:
        if not self.dataset or self.dataset.count("/") > 1:
            return [f"'{prefix}.dataset' must be a Hub dataset id like 'namespace/name', found '{self.dataset}'"]
        return []

    def load(self, ctx: LoadContext):
        import datasets

        try:
            loaded = datasets.load_dataset(
                self.dataset, self.config_name, revision=self.revision, streaming=ctx.streaming
            )
        except (FileNotFoundError, ConnectionError, OSError) as e:
            raise DataError(
                f"dataset '{self.dataset}' could not be loaded from the Hub ({type(e).__name__}: {str(e).splitlines()[0]}). "
                "If this machine is offline, download it elsewhere (`hf download --repo-type dataset "
                f"{self.dataset} --local-dir DIR`) and use data.source=files or data.source=imagefolder on that folder"
            ) from None
        except ValueError as e:  # bad config name and similar
            raise DataError(f"dataset '{self.dataset}': {e}") from None
        return loaded
