#!/usr/bin/env python3
"""Validates the custom resources of one rendered overlay against the CRDs kept in deploy/crds
(CloudNativePG, Gateway API, cert-manager, Prometheus Operator, OpenTelemetry Operator), and
writes the other objects, the built-in kinds, to a file for kubernetes-validate.

Each CRD version's openAPIV3Schema becomes a JSON Schema the way the API server reads it:
`nullable` admits null, `x-kubernetes-int-or-string` admits both, and an object with
`properties` refuses fields it does not declare unless it says
`x-kubernetes-preserve-unknown-fields` (as `kubectl apply`'s strict field validation does, so a
misspelt field fails here instead of being pruned in the cluster). CEL rules
(`x-kubernetes-validations`) and the controllers' webhooks are not evaluated.

Usage: validate-custom-resources.py RENDERED.yaml BUILTIN_OUT.yaml   (needs PyYAML and
jsonschema, which checkov installs). Prints each error and exits 1 if there is any; an object of
a group that has CRDs here but whose kind or version has none is an error too.
"""

import copy
import pathlib
import sys

import jsonschema
import yaml

CRD_DIR = pathlib.Path(__file__).resolve().parent / "crds"


def load_crds() -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) -> JSON Schema, for every CRD file under deploy/crds."""
    schemas = {}
    for path in sorted(CRD_DIR.glob("*/*.yaml")):
        with path.open(encoding="utf-8") as file:
            for crd in yaml.safe_load_all(file):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    if version.get("served", True) and "schema" in version:
                        schema = to_json_schema(version["schema"]["openAPIV3Schema"])
                        schemas[(group, version["name"], kind)] = schema
    return schemas


def to_json_schema(node: dict, root: bool = True) -> dict:
    node = copy.copy(node)
    for key in ("properties", "patternProperties"):
        if key in node:
            node[key] = {k: to_json_schema(v, False) for k, v in node[key].items()}
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = to_json_schema(node["additionalProperties"], False)
    if isinstance(node.get("items"), dict):
        node["items"] = to_json_schema(node["items"], False)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            node[key] = [to_json_schema(v, False) for v in node[key]]
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
        node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    if root:
        # metadata is the API server's ObjectMeta; the CRD only says `type: object`.
        node.setdefault("properties", {})["metadata"] = {"type": "object"}
    return node


def main(rendered: str, builtin_out: str) -> int:
    schemas = load_crds()
    groups = {group for group, _, _ in schemas}
    with open(rendered, encoding="utf-8") as file:
        objects = [o for o in yaml.safe_load_all(file) if o]
    builtin, errors, checked = [], [], 0
    for obj in objects:
        group, _, version = obj["apiVersion"].rpartition("/")
        if group not in groups:
            builtin.append(obj)
            continue
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        schema = schemas.get((group, version, obj["kind"]))
        if schema is None:
            errors.append(f"{where}: no CRD in deploy/crds for {obj['apiVersion']} {obj['kind']}")
            continue
        validator = jsonschema.Draft4Validator(schema)
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            path = ".".join(str(p) for p in error.absolute_path) or "(root)"
            errors.append(f"{where} ({obj['apiVersion']}): {path}: {error.message}")
        checked += 1
    with open(builtin_out, "w", encoding="utf-8") as file:
        yaml.safe_dump_all(builtin, file)
    for error in errors:
        print(f"{rendered}: {error}")
    if not errors:
        print(f"custom resources ok ({checked} checked against their CRDs)")
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
