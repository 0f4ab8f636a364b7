"""A big OpenAPI document for the start-up benchmark: copies of a real one merged side by side.

    python bench/bigdoc.py SOURCE.json [--copies 8] [--out /tmp/mockserver-bench/big.json]

Copy ``i`` gets its paths under ``/copy{i}``, its operationIds, tags and component names
suffixed with ``_{i}`` (every ``$ref`` rewritten to match), so the result is one valid document
with ``copies`` times the operations and schemas. SOURCE is any OpenAPI document in JSON that
you have; with Twilio's Messaging document (``twilio_messaging_v1.json`` from the public
twilio/twilio-oai repository: 58 operations, 0.49 MB), 8 copies make 464 operations in 3.9 MB.
The output is not committed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("/tmp/mockserver-bench/big.json")
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _renamed(node: Any, suffix: str) -> Any:
    """``node`` with every local component ``$ref`` pointing at the suffixed name."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                out[key] = value + suffix
            else:
                out[key] = _renamed(value, suffix)
        return out
    if isinstance(node, list):
        return [_renamed(item, suffix) for item in node]
    return node


def merge(document: dict[str, Any], copies: int) -> dict[str, Any]:
    merged: dict[str, Any] = {
        key: value for key, value in document.items() if key not in ("paths", "components", "tags")
    }
    merged["info"] = {**document["info"], "title": f"{document['info']['title']} x{copies}"}
    merged["paths"], merged["components"], merged["tags"] = {}, {}, []
    for i in range(copies):
        suffix = f"_{i}"
        copy = _renamed(document, suffix)
        for path, item in copy["paths"].items():
            for method, operation in item.items():
                if method in METHODS and isinstance(operation, dict):
                    if "operationId" in operation:
                        operation["operationId"] += suffix
                    operation["tags"] = [t + suffix for t in operation.get("tags", [])]
            merged["paths"][f"/copy{i}{path}"] = item
        for section, entries in copy.get("components", {}).items():
            target = merged["components"].setdefault(section, {})
            # security schemes are referenced by name from `security`: keep them shared
            rename = section != "securitySchemes"
            target.update({(k + suffix if rename else k): v for k, v in entries.items()})
        merged["tags"] += [{**t, "name": t["name"] + suffix} for t in copy.get("tags", [])]
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("source", type=Path, help="an OpenAPI document in JSON to copy")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    document = json.loads(args.source.read_text())
    merged = merge(document, args.copies)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2))
    operations = sum(1 for item in merged["paths"].values() for method in item if method in METHODS)
    size = args.out.stat().st_size
    print(f"{args.out}: {operations} operations, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
