"""The facecat catalog: the one place the stages meet.

    from db import open_catalog
    with open_catalog("catalog", create=True) as cat:
        print(cat.stats())
"""
from db.annotations import UNSET
from db.catalog import DEFAULT_CLASSES, Catalog, init_catalog, open_catalog
from db.errors import CatalogError, CatalogNotFound, ConflictError, SchemaTooNew

__all__ = [
    "Catalog", "open_catalog", "init_catalog", "DEFAULT_CLASSES", "UNSET",
    "CatalogError", "CatalogNotFound", "ConflictError", "SchemaTooNew",
]
