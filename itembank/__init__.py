"""The item bank as data: schemas, storage, versions, and the file formats of DESIGN.md §6."""
