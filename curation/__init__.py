"""curate: faces out of images, datasets in, duplicates found, curated sets out."""
