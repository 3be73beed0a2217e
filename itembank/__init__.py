"""The item bank as data: schemas, storage, versions, and the file formats of docs/design.md §6."""
