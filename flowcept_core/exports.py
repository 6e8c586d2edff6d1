"""Writing documents to files: json (one array), jsonl, csv (dotted columns), parquet (needs pandas + pyarrow)."""

from __future__ import annotations

import os
import zipfile

__all__ = ["export_documents", "FORMATS"]

FORMATS = ("json", "jsonl", "csv", "parquet")


def export_documents(docs: list[dict], path: str, export_format: str = "json", should_zip: bool = False) -> str:
    """Write docs to path in export_format; with should_zip, path + ".zip" holding it. Returns the written path."""
    if export_format not in FORMATS:
        raise ValueError(f"export_format={export_format!r} is not supported; choose one of {list(FORMATS)}")
    from flowcept_core.private_files import make_private, open_private
    from flowcept_core.serialize import dumps_line, dumps_lines

    if export_format == "jsonl":
        with open_private(path) as f:  # 0600: exports hold captured values
            f.writelines(map(dumps_line, docs))
    elif export_format == "json":
        with open_private(path) as f:
            # encoded JSON never holds a raw newline (strings escape it): the line ends are the separators
            f.write(b"[" + dumps_lines(docs).rstrip(b"\n").replace(b"\n", b",") + b"]")
    else:
        from flowcept_core.dataframes import to_dataframe

        df = to_dataframe(docs, normalize=True)
        if export_format == "csv":
            df.to_csv(path, index=False)
        else:
            try:
                df.to_parquet(path, index=False)
            except ImportError as e:
                raise ModuleNotFoundError(f"parquet export needs pyarrow: pip install pyarrow ({e})") from None
        make_private(path)
    if should_zip:
        zipped = f"{path}.zip"
        with open_private(zipped) as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(path, os.path.basename(path))
        os.remove(path)
        return zipped
    return path
