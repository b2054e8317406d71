"""Every XML parser in GridSec's own code is defusedxml's: a static check of every module's imports and calls.

Python's stdlib parsers (xml.etree, xml.dom, xml.sax, expat), lxml and xmltodict expand entities and
(some) fetch external ones, so an entity bomb or XXE in a WeChat post would reach them. The one sanctioned
path is `bot.wechat_xml` (defusedxml first, then wechatpy's `parse_message` on the already-vetted text).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.wechat_xml import InboundXMLError, parse_safely, safe_fields

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_PACKAGES = ("bot", "actions", "routing", "storage", "tools")
# Parsers by nature: importing them at all is refused.
PARSER_MODULES = (
    "xml.sax",
    "xml.parsers",
    "xml.dom.pulldom",
    "xml.dom.expatbuilder",
    "pyexpat",
    "lxml",
    "xmltodict",
)
SAFE_SUBMODULES = ("xml.sax.saxutils",)  # escaping helpers: they write XML, they parse nothing
# Tree modules that also build and serialise XML (the simulator writes WeChat posts with them): building is
# fine, their parse functions are not.
TREE_MODULES = ("xml.etree", "xml.dom", "xml.dom.minidom")
PARSE_FUNCTIONS = {
    "fromstring",
    "fromstringlist",
    "parse",
    "parseString",
    "XML",
    "XMLID",
    "iterparse",
    "XMLParser",
    "XMLPullParser",
}
# wechatpy calls that parse XML themselves (xmltodict): allowed only where the input was vetted first.
WECHATPY_PARSERS = {"parse_message": "bot/wechat_xml.py", "decrypt_message": "bot/channels/wechat_verify.py"}


def _within(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def _parser_module(module: str) -> bool:
    return _within(module, PARSER_MODULES) and not _within(module, SAFE_SUBMODULES)


def violations(path: Path, relative: str) -> list[str]:
    """What in one module parses XML outside defusedxml (empty when the module is clean)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    trees: set[str] = set()  # names (aliases or dotted paths) bound to stdlib tree modules
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _parser_module(alias.name):
                    found.append(f"{relative}:{node.lineno} import {alias.name}")
                elif _within(alias.name, TREE_MODULES):
                    trees.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                parses = _within(node.module, TREE_MODULES) and alias.name in PARSE_FUNCTIONS
                if _parser_module(node.module) or _parser_module(full) or parses:
                    found.append(f"{relative}:{node.lineno} from {node.module} import {alias.name}")
                elif _within(full, TREE_MODULES):
                    trees.add(alias.asname or alias.name)
                if node.module == "wechatpy" and WECHATPY_PARSERS.get(alias.name, relative) != relative:
                    found.append(
                        f"{relative}:{node.lineno} wechatpy.{alias.name} outside {WECHATPY_PARSERS[alias.name]}"
                    )
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner = ast.unparse(node.value)
        if node.attr in PARSE_FUNCTIONS and (owner in trees or _within(owner, TREE_MODULES)):
            found.append(f"{relative}:{node.lineno} {owner}.{node.attr}")
        vetted_in = WECHATPY_PARSERS.get(node.attr, relative)
        if vetted_in != relative and ("crypto" in owner.lower() or owner == "wechatpy"):
            found.append(f"{relative}:{node.lineno} {owner}.{node.attr} outside {vetted_in}")
    return found


def production_modules() -> list[Path]:
    return sorted(
        path
        for package in PRODUCTION_PACKAGES
        if (REPO / package).is_dir()
        for path in (REPO / package).rglob("*.py")
        if "migrations" not in path.parts
    )


# Reported, waiting for their owner (bot/web is not this test's to change). The simulator parses only its own
# freshly encrypted envelope, not inbound data, but the rule has no exceptions: the fix is
# `defusedxml.ElementTree.fromstring(envelope)`. Once fixed, this test fails until the entry is removed.
PENDING_FIXES: set[str] = set()


def test_no_module_parses_xml_outside_defusedxml() -> None:
    modules = production_modules()
    assert len(modules) > 50  # the scan really walked the code base
    found = [v for path in modules for v in violations(path, path.relative_to(REPO).as_posix())]
    without_lines = {re.sub(r":\d+ ", " ", violation) for violation in found}
    assert without_lines == PENDING_FIXES, found


@pytest.mark.parametrize(
    "source",
    [
        "import xml.etree.ElementTree as ET\nET.fromstring(b'<a/>')\n",
        "import xml.etree.ElementTree\nxml.etree.ElementTree.parse('f.xml')\n",
        "from xml.etree import ElementTree\nElementTree.XML('<a/>')\n",
        "from xml.etree.ElementTree import fromstring\n",
        "from xml.dom.minidom import parseString\n",
        "from xml.dom import minidom\nminidom.parseString('<a/>')\n",
        "import lxml.etree\n",
        "from lxml import etree\n",
        "import xmltodict\n",
        "from xml.sax import make_parser\n",
        "from wechatpy import parse_message\n",
        "def f(crypto, body):\n    return crypto.decrypt_message(body, 's', 't', 'n')\n",
    ],
)
def test_the_check_catches_each_unsafe_parser(tmp_path: Path, source: str) -> None:
    module = tmp_path / "planted.py"
    module.write_text(source, encoding="utf-8")
    assert violations(module, "bot/planted.py") != []


def test_the_check_allows_defusedxml_and_escaping(tmp_path: Path) -> None:
    module = tmp_path / "fine.py"
    module.write_text(
        "import defusedxml.ElementTree as SafeElementTree\nfrom xml.sax.saxutils import escape\n"
        "import xml.etree.ElementTree as ET\nroot = ET.Element('xml')\nET.tostring(root)\n"
        "SafeElementTree.fromstring(b'<xml/>')\n",
        encoding="utf-8",
    )
    assert violations(module, "bot/fine.py") == []


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    b"<xml><Content>&lol2;</Content></xml>"
)
XXE = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>'
PARAMETER_ENTITY = b'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:1/evil.dtd"> %p;]><xml/>'


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, PARAMETER_ENTITY, b"<xml><a>unclosed</xml>"])
def test_the_sanctioned_path_refuses_bombs_and_external_entities(body: bytes) -> None:
    with pytest.raises(InboundXMLError):
        safe_fields(body)
    with pytest.raises(InboundXMLError):
        parse_safely(body)
