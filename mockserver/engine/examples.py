"""Examples a document gives for a body, and bodies rendered for XML and text media types."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .generate import SchemaNode, schema_node


def pick_example(
    media_type: Mapping[str, Any],
    name: str | None = None,
    resolve: Callable[[str], Any] | None = None,
) -> tuple[bool, Any]:
    """The example a Media Type Object gives, as ``(found, value)``.

    ``examples[name]`` when ``name`` is given and present, else ``example``, else the first of
    ``examples`` that has a ``value``, else the schema's own ``example`` or ``examples[0]``.
    Example Objects may be ``$ref``s, followed through ``resolve``; an ``externalValue`` is not
    fetched, so such an example is passed over.
    """
    examples = media_type.get("examples")
    named = examples if isinstance(examples, Mapping) else {}
    if name is not None and name in named:
        found, value = _example_value(named[name], resolve)
        if found:
            return True, value
    if "example" in media_type:
        return True, media_type["example"]
    for entry in named.values():
        found, value = _example_value(entry, resolve)
        if found:
            return True, value
    schema = media_type.get("schema")
    if isinstance(schema, Mapping):
        if "example" in schema:
            return True, schema["example"]
        listed = schema.get("examples")
        if isinstance(listed, list) and listed:
            return True, listed[0]
    return False, None


def _example_value(entry: Any, resolve: Callable[[str], Any] | None) -> tuple[bool, Any]:
    for _ in range(16):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("$ref"), str):
            break
        if resolve is None:
            return False, None
        entry = resolve(entry["$ref"])
    if isinstance(entry, Mapping) and "value" in entry:
        return True, entry["value"]
    return False, None


def to_text(value: Any) -> str:
    """A body for ``text/plain``: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def to_xml(value: Any, schema: Mapping[str, Any] | bool, name: str | None = None) -> str:
    """``value`` as an XML document, following the schema's OpenAPI ``xml`` objects.

    The root element is the schema's ``xml.name``, else ``name``, else ``root``. Properties are
    child elements unless ``xml.attribute``; arrays repeat their items' element unless
    ``xml.wrapped`` (at the root an array is always wrapped: a document has one root).
    ``xml.prefix`` and ``xml.namespace`` become prefixed names and ``xmlns`` declarations.
    """
    node = schema_node(schema)
    writer = _XmlWriter(node)
    effective = writer.effective(node, value)
    tag = _xml_info(effective).get("name") or name or "root"
    parts = ['<?xml version="1.0" encoding="UTF-8"?>']
    if isinstance(value, list):
        writer.array(value, effective, str(tag), parts, wrapped=True)
    else:
        writer.element(value, effective, str(tag), parts)
    return "".join(parts)


_XML_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


def _xml_info(schema: dict[str, Any]) -> dict[str, Any]:
    info = schema.get("xml")
    return info if isinstance(info, dict) else {}


def _xml_name(name: str) -> str:
    if _XML_NAME.match(name):
        return name
    cleaned = re.sub(r"[^\w.\-]", "_", name)
    return cleaned if _XML_NAME.match(cleaned) else f"_{cleaned}"


class _XmlWriter:
    def __init__(self, root: SchemaNode) -> None:
        self.root = root

    def effective(self, node: SchemaNode, value: Any) -> dict[str, Any]:
        """The merged schema that describes ``value``: refs followed, the matching branch taken."""
        xml: Any = None
        for _ in range(16):
            if node.ref is not None:
                if isinstance(node.schema, dict) and "xml" in node.schema:
                    xml = node.schema["xml"]
                node = node.target()
            elif node.has_branches:
                matching = [b for b, _ in node.branches() if b.valid(value)]
                if not matching:
                    break
                node = matching[0]
            else:
                break
        return node.merged if xml is None else {**node.merged, "xml": xml}

    def child(self, schema: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
        props = schema.get("properties", {})
        sub = props.get(key, schema.get("additionalProperties", True))
        return self.effective(self.root.child(sub), value)

    def element(self, value: Any, schema: dict[str, Any], tag: str, parts: list[str]) -> None:
        info = _xml_info(schema)
        qualified, declaration = _qualify(info, tag)
        attributes = declaration
        children: list[str] = []
        if isinstance(value, dict):
            for key, item in value.items():
                sub = self.child(schema, key, item)
                sub_info = _xml_info(sub)
                sub_tag = _xml_name(str(sub_info.get("name") or key))
                if sub_info.get("attribute") and not isinstance(item, dict | list):
                    attr, decl = _qualify(sub_info, sub_tag)
                    attributes += f" {attr}={quoteattr(_scalar_text(item))}{decl}"
                elif isinstance(item, list):
                    self.array(item, sub, sub_tag, children, wrapped=bool(sub_info.get("wrapped")))
                else:
                    self.element(item, sub, sub_tag, children)
        elif isinstance(value, list):
            self.array(value, schema, tag, children, wrapped=False)
        elif value is not None:
            children.append(escape(_scalar_text(value)))
        body = "".join(children)
        parts.append(
            f"<{qualified}{attributes}>{body}</{qualified}>"
            if body
            else f"<{qualified}{attributes}/>"
        )

    def array(
        self, items: list[Any], schema: dict[str, Any], tag: str, parts: list[str], *, wrapped: bool
    ) -> None:
        item_schema = schema.get("items", True)
        inner: list[str] = []
        for item in items:
            effective = self.effective(self.root.child(item_schema), item)
            item_tag = _xml_name(
                str(_xml_info(effective).get("name") or (tag if not wrapped else "item"))
            )
            self.element(item, effective, item_tag, inner)
        if wrapped:
            qualified, declaration = _qualify(_xml_info(schema), tag)
            body = "".join(inner)
            parts.append(
                f"<{qualified}{declaration}>{body}</{qualified}>"
                if body
                else f"<{qualified}{declaration}/>"
            )
        else:
            parts.extend(inner)


def _qualify(info: dict[str, Any], tag: str) -> tuple[str, str]:
    prefix, namespace = info.get("prefix"), info.get("namespace")
    qualified = f"{prefix}:{tag}" if isinstance(prefix, str) and prefix else tag
    if not isinstance(namespace, str):
        return qualified, ""
    attr = f"xmlns:{prefix}" if isinstance(prefix, str) and prefix else "xmlns"
    return qualified, f" {attr}={quoteattr(namespace)}"


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)
