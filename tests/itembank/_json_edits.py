"""Malformed parameter files for the tests: a valid file's JSON, edited at one path, written and
read back; the error must name the file and the JSON path."""

import copy
import json

import pytest

from qabilet.engine.exceptions import DataFileError


def write_json(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def set_at(path, value):
    """An edit setting the value at ``path`` (keys and positions)."""
    def edit(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def delete_at(path):
    """An edit deleting the entry at ``path``."""
    def edit(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return edit


def refusal(tmp_path, valid, edit, read, expected):
    """``valid`` edited by ``edit`` and read by ``read``: the DataFileError and the file's path.

    The message starts with the file's path and holds every part of ``expected``.
    """
    data = copy.deepcopy(valid)
    edit(data)
    path = write_json(tmp_path / "params.json", data)
    with pytest.raises(DataFileError) as info:
        read(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for part in expected:
        assert part in message, (part, message)
    return info.value, path
