"""The entry-point reader used at start-up answers what importlib.metadata answers."""

from importlib import metadata

from flowcept_core.entrypoints import _scan, entry_points


def _triples(eps):
    return sorted((e.name, e.value, e.dist.name if e.dist else None) for e in eps)


def test_flowcept_entry_points_match_importlib_metadata():
    expected = _triples(metadata.entry_points(group="flowcept"))
    assert expected, "the test environment installs the plugins under plugins/"
    assert _triples(_scan("flowcept")) == expected
    assert _triples(entry_points("flowcept")) == expected


def test_other_groups_match_too():
    assert _triples(_scan("console_scripts")) == _triples(metadata.entry_points(group="console_scripts"))


def test_an_entry_point_loads_its_object():
    (ep,) = [e for e in _scan("flowcept") if e.name == "lmdb"]
    module = ep.load()
    assert module.__name__ == ep.value.split(":")[0]


def test_a_zip_on_the_path_falls_back_to_importlib_metadata(tmp_path, monkeypatch):
    import sys
    import zipfile

    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped_plugin-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped-plugin\n\n")
        z.writestr("zipped_plugin-1.0.dist-info/entry_points.txt", "[flowcept]\nzipped = zipped_plugin.hooks\n")
    monkeypatch.setattr(sys, "path", [*sys.path, str(archive)])
    assert ("zipped", "zipped_plugin.hooks", "zipped-plugin") in _triples(entry_points("flowcept"))
