"""`curate export`: write a curated selection as image folders, a FER2013-style CSV or a .npz.

    from curation.export import export
    result = export(catalog, Path("out"), "folders", SelectionSpec(split="80/10/10", seed=0))

Modules: pixels (each face's pixels at the export size), writers (one per format), manifest
(what was exported, from what), run (the atomic export itself).
"""
from curation.export.run import FORMATS, ExportError, ExportResult, export

__all__ = ["FORMATS", "ExportError", "ExportResult", "export"]
