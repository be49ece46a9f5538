#!/usr/bin/env python3
"""Cross-references inside one rendered overlay, which schema validation cannot see: every
selector (Service, PDB, NetworkPolicy, topology spread) and NetworkPolicy peer selects a pod of
the overlay, HPAs target a Deployment, and every ConfigMap, PersistentVolumeClaim,
ServiceAccount, named port and in-cluster service URL (`http://name:port` in a ConfigMap) that is
referred to exists. Secrets are created outside the repository and are not checked, except where
the rendering issues them with cert-manager Certificates: then every mounted Secret must be one,
each Certificate's Issuer must exist, and every service URL must be `https://` to a host that is
a certificate's DNS name.

Usage: check-references.py RENDERED.yaml   (needs PyYAML, which checkov and kubernetes-validate
install). Prints each broken reference and exits 1 if there is any.
"""

import re
import sys

import yaml


def main(path: str) -> int:
    with open(path, encoding="utf-8") as file:
        objects = [o for o in yaml.safe_load_all(file) if o]
    by_kind: dict[str, dict[str, dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    deployments = by_kind.get("Deployment", {})
    templates = {name: d["spec"]["template"] for name, d in deployments.items()}
    errors: list[str] = []

    def selects_a_pod(selector: dict) -> bool:
        wanted = (selector or {}).get("matchLabels", {})
        return any(
            wanted.items() <= t["metadata"].get("labels", {}).items() for t in templates.values()
        )

    def need(kind: str, name: str, where: str) -> None:
        if name not in by_kind.get(kind, {}):
            errors.append(f"{where}: no {kind} named {name!r} in the rendering")

    for name, deployment in deployments.items():
        where = f"Deployment/{name}"
        template = templates[name]
        labels = template["metadata"].get("labels", {})
        if not deployment["spec"]["selector"]["matchLabels"].items() <= labels.items():
            errors.append(f"{where}: selector does not match its pod template's labels")
        spec = template["spec"]
        if "serviceAccountName" in spec:
            need("ServiceAccount", spec["serviceAccountName"], where)
        for constraint in spec.get("topologySpreadConstraints", []):
            if not constraint["labelSelector"]["matchLabels"].items() <= labels.items():
                errors.append(f"{where}: a topology spread constraint selects other pods")
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                need("ConfigMap", volume["configMap"]["name"], where)
            if "persistentVolumeClaim" in volume:
                need("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"], where)
        for container in spec.get("initContainers", []) + spec["containers"]:
            cwhere = f"{where} container {container['name']}"
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    need("ConfigMap", source["configMapRef"]["name"], cwhere)
            port_names = {p["name"] for p in container.get("ports", []) if "name" in p}
            for probe_kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                for handler in ("httpGet", "tcpSocket"):
                    port = container.get(probe_kind, {}).get(handler, {}).get("port")
                    if isinstance(port, str) and port not in port_names:
                        errors.append(f"{cwhere}: {probe_kind} uses unknown port {port!r}")

    for name, service in by_kind.get("Service", {}).items():
        selector = service["spec"].get("selector", {})
        matching = [
            t for t in templates.values()
            if selector.items() <= t["metadata"].get("labels", {}).items()
        ]
        if not matching:
            errors.append(f"Service/{name}: selector matches no pod")
        for port in service["spec"]["ports"]:
            target = port.get("targetPort")
            if isinstance(target, str) and not any(
                target == p.get("name") for t in matching for c in t["spec"]["containers"]
                for p in c.get("ports", [])
            ):
                errors.append(f"Service/{name}: targetPort {target!r} is no container port name")

    for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        if not selects_a_pod(pdb["spec"]["selector"]):
            errors.append(f"PodDisruptionBudget/{name}: selector matches no pod")

    for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        need(hpa["spec"]["scaleTargetRef"]["kind"], hpa["spec"]["scaleTargetRef"]["name"],
             f"HorizontalPodAutoscaler/{name}")

    for name, policy in by_kind.get("NetworkPolicy", {}).items():
        if not selects_a_pod(policy["spec"]["podSelector"]):
            errors.append(f"NetworkPolicy/{name}: podSelector matches no pod")
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                # Peers in other namespaces (namespaceSelector) are the site's, not ours.
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    if not selects_a_pod(peer["podSelector"]):
                        errors.append(f"NetworkPolicy/{name}: a `from` podSelector matches no pod")

    services = by_kind.get("Service", {})
    for name, config_map in by_kind.get("ConfigMap", {}).items():
        for key, value in (config_map.get("data") or {}).items():
            match = re.fullmatch(r"https?://([a-z0-9-]+):(\d+)/?", value or "")
            if not match:
                continue
            host, port = match.group(1), int(match.group(2))
            if host not in services:
                errors.append(f"ConfigMap/{name} {key}: no Service named {host!r}")
            elif port not in [p["port"] for p in services[host]["spec"]["ports"]]:
                errors.append(f"ConfigMap/{name} {key}: Service {host!r} has no port {port}")

    # cert-manager: what kubernetes-validate cannot check (it has no schema for custom
    # resources). When the rendering issues certificates, every Secret a pod mounts is one of
    # them, each Certificate's Issuer is in the rendering (a ClusterIssuer is the site's), and
    # every service URL is https:// to a host that a certificate is issued for.
    certificates = by_kind.get("Certificate", {})
    if certificates:
        issued = {c["spec"]["secretName"]: name for name, c in certificates.items()}
        for name, template in templates.items():
            for volume in template["spec"].get("volumes", []):
                secret = volume.get("secret", {}).get("secretName")
                if secret and secret not in issued:
                    errors.append(f"Deployment/{name}: Secret {secret!r} is issued by no Certificate")
        for name, certificate in certificates.items():
            issuer = certificate["spec"]["issuerRef"]
            if issuer.get("kind", "Issuer") == "Issuer":
                need("Issuer", issuer["name"], f"Certificate/{name}")
        for name, issuer in by_kind.get("Issuer", {}).items():
            secret = issuer["spec"].get("ca", {}).get("secretName")
            if secret and secret not in issued:
                errors.append(f"Issuer/{name}: CA Secret {secret!r} is issued by no Certificate")
        names = {n for c in certificates.values() for n in c["spec"].get("dnsNames", [])}
        for name, config_map in by_kind.get("ConfigMap", {}).items():
            for key, value in (config_map.get("data") or {}).items():
                match = re.fullmatch(r"(https?)://([a-z0-9-]+):(\d+)/?", value or "")
                if not match or match.group(2) not in services:
                    continue
                if match.group(1) == "http":
                    errors.append(f"ConfigMap/{name} {key}: plain http:// to a service that serves TLS")
                elif match.group(2) not in names:
                    errors.append(f"ConfigMap/{name} {key}: no Certificate is issued for {match.group(2)!r}")

    for error in errors:
        print(f"{path}: {error}")
    if not errors:
        print(f"references ok ({len(objects)} objects)")
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
