"""SigMF metadata checks: jsonschema-rs (fast start-up) accepts exactly what jsonschema, the
reference that words the errors, accepts, on written recordings and on edits of them."""

import copy
import importlib.util
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from unseen.errors import FileFormatError
from unseen.sources import sigmf
from unseen.sources.sigmf import read_sigmf, write_sigmf

pytest.importorskip("jsonschema_rs")

EDITS = [
    (("global", "core:datatype"), "cf33_le"),
    (("global", "core:datatype"), "ci16_le"),
    (("global", "core:sample_rate"), "fast"),
    (("global", "core:sample_rate"), 2.5e6),
    (("global", "core:version"), 1),
    (("global", "core:num_channels"), 0),
    (("global", "core:num_channels"), 4),
    (("captures",), {}),
    (("captures",), [{"core:sample_start": -1}]),
    (("captures",), [{"core:sample_start": 0, "core:frequency": "94 MHz"}]),
    (("annotations",), [{"core:sample_start": 0, "core:sample_count": 10}]),
    (("annotations",), [{"core:sample_count": 10}]),
    (("global", "core:sha512"), "not hex"),
    (("global", "unseen:array"), {"kind": "uca"}),
]


def _doc(tmp_path: Path) -> dict:
    x = np.ones((4, 64), np.complex64)
    meta = write_sigmf(tmp_path / "r", x, 1e6, 94.2e6, extensions={"unseen:array": {"a": 1}})
    return json.loads(Path(meta).read_text())


def test_fast_validator_reads_sigmfs_own_schema():
    from sigmf.schema import get_schema

    folder = Path(next(iter(importlib.util.find_spec("sigmf").submodule_search_locations)))
    assert json.loads((folder / "schema-meta.json").read_bytes()) == get_schema()
    assert sigmf._fast_validator() is not None


@pytest.mark.parametrize(("path", "value"), EDITS)
def test_fast_and_reference_validators_agree(tmp_path, path, value):
    doc = copy.deepcopy(_doc(tmp_path))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    ref = jsonschema.exceptions.best_match(sigmf._schema_validator().iter_errors(doc)) is None
    assert sigmf._fast_validator().is_valid(doc) == ref
    assert sigmf._fast_validator().is_valid(_doc(tmp_path))


def test_rejected_metadata_is_worded_by_the_reference(tmp_path):
    doc = _doc(tmp_path)
    doc["annotations"] = [{"core:sample_count": 10}]
    assert not sigmf._fast_validator().is_valid(doc)
    (tmp_path / "r.sigmf-meta").write_text(json.dumps(doc))
    with pytest.raises(FileFormatError, match=r"invalid SigMF metadata at annotations/0: "):
        read_sigmf(tmp_path / "r.sigmf-meta")
