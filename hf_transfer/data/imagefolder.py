"""Data source ``imagefolder``: images in class-per-sub-folder layout.

``data_dir/<class>/*.jpg`` (train only), or ``data_dir/{train,validation,test}/<class>/*.jpg``. With a
``metadata.jsonl`` next to the images (``file_name`` plus columns), ``datasets`` takes the labels from it
instead of the folders: the layout for several labels per image (a list column).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..registry import DATA_SOURCES
from ..schema import field
from . import DataSource, LoadContext


@DATA_SOURCES.register("imagefolder")
@dataclass
class ImageFolderSource(DataSource):
    data_dir: str = field(
        help="folder with one sub-folder of images per class (optionally under train/, validation/, test/)", path=True
    )

    def load(self, ctx: LoadContext):
        import datasets

        root = Path(self.data_dir)
        if root.is_file():
            raise DataError(
                f"data.data_dir '{root}' is not a folder but a file; expected a folder with one sub-folder of images per class"
            )
        if not root.is_dir():
            raise DataError(
                f"data.data_dir '{root}' is not a folder: it does not exist; expected a folder with one sub-folder of images per class "
                "(relative paths in a recipe are relative to the recipe file)"
            )
        try:
            return datasets.load_dataset("imagefolder", data_dir=str(root), streaming=ctx.streaming)
        except Exception as e:
            raise DataError(f"could not read images under '{root}': {str(e).splitlines()[0]}") from None
