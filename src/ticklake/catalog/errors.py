"""Recognising DuckDB's messages for a file that is gone (compacted away while a statement
was planned): the catalog then raises ``errors.FilesGone`` and plans the statement again."""

from __future__ import annotations


def is_file_gone(message: str) -> bool:
    return any(text in message for text in _GONE)


_GONE = ("No files found that match the pattern", "No such file or directory",
         "Path does not exist")
