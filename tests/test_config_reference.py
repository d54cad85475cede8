"""One source of defaults: the schema holds every key's default and help, conf/config.yaml restates none of them,
and docs/configuration.md's reference is the one the schema renders."""
import dataclasses

import pytest
import yaml
from omegaconf import DictConfig, OmegaConf

from conftest import CONF_DIR, ROOT
from finetune_lab import config_reference
from finetune_lab.config import Config, setting

DOC = ROOT / "docs" / "configuration.md"


def leaves(node: DictConfig, prefix: str = "") -> list[str]:
    """The dotted names of a composed config's keys that hold a value (not a section)."""
    names = []
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            names += leaves(child, f"{prefix}{key}.")
        else:
            names.append(f"{prefix}{key}")
    return names


def test_the_committed_reference_is_the_one_the_schema_renders():
    text = DOC.read_text()
    assert config_reference.replace_section(text, config_reference.render()) == text, (
        "docs/configuration.md is out of date: python -m finetune_lab.config_reference --write docs/configuration.md")


def test_every_schema_key_and_section_has_help():
    sections = list(config_reference.sections())
    bare = [k.name for s in sections for k in s.keys if not k.help.strip()]
    assert not bare, f"schema keys without help (config.setting(default, help)): {bare}"
    undocumented = [s.name or "Config" for s in sections if not s.help]
    assert not undocumented, f"schema sections without a docstring: {undocumented}"


def test_a_key_without_help_is_found():
    @dataclasses.dataclass
    class Inner:
        """Documented."""
        a: int = setting(1, "has help")
        b: int = 2

    @dataclasses.dataclass
    class Outer:
        inner: Inner = dataclasses.field(default_factory=Inner)

    sections = list(config_reference.sections(Outer))
    assert [(s.name, s.help) for s in sections] == [("", ""), ("inner", "Documented.")]
    assert [(k.name, k.help) for k in sections[1].keys] == [("inner.a", "has help"), ("inner.b", "")]


def test_the_reference_lists_every_key_a_composed_config_has(compose):
    listed = [k.name for s in config_reference.sections() for k in s.keys]
    assert sorted(listed) == sorted(leaves(compose()))


def test_the_default_composition_is_the_schema(compose):
    """Nothing in conf/config.yaml or the default groups (head=small, logger=none) moves a default off the
    schema's: the defaults the reference shows are the ones a run gets."""
    composed = OmegaConf.to_container(compose(), resolve=False)
    assert composed == OmegaConf.to_container(OmegaConf.structured(Config), resolve=False)


def test_the_primary_config_restates_no_key():
    primary = yaml.safe_load(open(f"{CONF_DIR}/config.yaml"))
    assert set(primary) == {"defaults", "hydra"}, "set a default in the schema (config.py), not in config.yaml"


@pytest.mark.parametrize("value, text", [(None, "null"), (True, "true"), ([4096, 10], "[4096, 10]"), (1e-4, "0.0001"),
                                         ("${oc.env:X,y}", "${oc.env:X,y}")])
def test_defaults_are_written_as_on_the_command_line(value, text):
    assert config_reference.default_text(value) == text


def test_types_are_named_as_yaml_sees_them():
    from typing import Any, List, Optional
    assert [config_reference.type_name(t) for t in (int, Optional[str], List[int], Any)] == [
        "int", "str or null", "list of int", "any"]


def test_write_replaces_only_the_marked_section(tmp_path):
    doc = tmp_path / "c.md"
    doc.write_text(f"before\n{config_reference.BEGIN}\nSTALE-LINE\n{config_reference.END}\nafter\n")
    config_reference.main(["--write", str(doc)])
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith(f"{config_reference.END}\nafter\n")
    assert "STALE-LINE" not in text
    assert "| `training.optimizer.lr` | float | `0.0001` |" in text
    with pytest.raises(ValueError, match="markers"):
        config_reference.replace_section("no markers", "x")


@pytest.mark.parametrize("make, words", [
    (lambda folder: folder / "missing.md", "No such file or directory"),
    (lambda folder: (folder / "plain.md").write_text("no markers here\n") and folder / "plain.md", "markers are missing"),
])
def test_write_to_a_file_it_cannot_use_is_one_line_and_exit_status_2(tmp_path, capsys, make, words):
    doc = make(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        config_reference.main(["--write", str(doc)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and f"--write {doc}: " in err and words in err and "allowed: " in err, err
